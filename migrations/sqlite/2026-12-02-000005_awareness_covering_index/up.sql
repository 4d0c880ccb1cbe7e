-- The awareness counts read every column they group and count by from this one index, so a
-- period's rows are read in `created_at` order from the index alone, never from the table
-- (where those columns sit behind each incident's facts and decision JSON). It replaces the
-- index on `created_at`, which is its first column.
CREATE INDEX incidents_awareness ON incidents (created_at, sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
DROP INDEX incidents_created_at;
