DROP INDEX cvd_cases_created_at;
ALTER TABLE cvd_vendors DROP COLUMN version;
