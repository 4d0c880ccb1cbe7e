-- The awareness counts read every column they group and count by from this one index, so a
-- period's rows come from an index-only scan in `created_at` order, not from the heap. It
-- replaces the index on `created_at`, its key.
CREATE INDEX incidents_awareness ON incidents (created_at) INCLUDE (sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
DROP INDEX incidents_created_at;
