-- National CSIRT CVD policies promise an assessment (the triage decision) within three
-- working days of a report, next to the acknowledgement within one. Cases reported before
-- this column get three calendar days from their report, and those already triaged count as
-- assessed when they last changed, so the sweep does not flag old work.
ALTER TABLE cvd_cases ADD COLUMN assess_due_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE cvd_cases ADD COLUMN assessed_at TIMESTAMP;
ALTER TABLE cvd_cases ADD COLUMN assess_missed_at TIMESTAMP;
UPDATE cvd_cases SET assess_due_at = datetime(created_at, '+3 days');
UPDATE cvd_cases SET assessed_at = updated_at WHERE state <> 'received';
CREATE INDEX cvd_cases_assess ON cvd_cases (assess_due_at);
