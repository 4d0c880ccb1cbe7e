-- CVD trust controls: a vendor entry carries its own version (its ETag, for `If-Match` on
-- `PATCH /api/v1/cvd/cases/{id}/vendors/{vendor_id}`), and the intake's global cap counts the
-- anonymous reports of the last minute by their creation time.
ALTER TABLE cvd_vendors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX cvd_cases_created_at ON cvd_cases (created_at);
