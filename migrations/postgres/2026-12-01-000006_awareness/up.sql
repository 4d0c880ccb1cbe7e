-- What situational awareness groups and counts by, kept as columns so that the aggregates
-- run as indexed SQL over the register instead of reading incidents' JSON.
-- kind: incident | near_miss | cyber_threat (the last two only in voluntary reports).
ALTER TABLE incidents ADD COLUMN kind TEXT NOT NULL DEFAULT 'incident';
-- The entity's category when it reported: essential | important | out_of_scope.
ALTER TABLE incidents ADD COLUMN category TEXT;
-- Reference Security Incident Taxonomy top-level class, and ENISA's root-cause category.
ALTER TABLE incidents ADD COLUMN threat_type TEXT;
ALTER TABLE incidents ADD COLUMN root_cause_category TEXT;
UPDATE incidents SET category = (SELECT e.category FROM entities e WHERE e.id = incidents.entity_id);
CREATE INDEX incidents_created_at ON incidents (created_at);
CREATE INDEX incidents_sector_created_at ON incidents (sector, created_at);
