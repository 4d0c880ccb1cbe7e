DROP INDEX incidents_sector_created_at;
DROP INDEX incidents_created_at;
ALTER TABLE incidents DROP COLUMN root_cause_category;
ALTER TABLE incidents DROP COLUMN threat_type;
ALTER TABLE incidents DROP COLUMN category;
ALTER TABLE incidents DROP COLUMN kind;
