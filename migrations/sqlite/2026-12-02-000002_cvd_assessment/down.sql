DROP INDEX cvd_cases_assess;
ALTER TABLE cvd_cases DROP COLUMN assess_missed_at;
ALTER TABLE cvd_cases DROP COLUMN assessed_at;
ALTER TABLE cvd_cases DROP COLUMN assess_due_at;
