-- SIM3 assessments of CSIRTs. The scores, evidence and assessors are one JSON document
-- (`body`); the columns are what lists, compliance and the sweep filter on. `tier` is the
-- tier computed when the assessment was recorded; `expired_at` is set once by the sweep
-- when `valid_until` has passed and the expiry event was emitted.
CREATE TABLE maturity_assessments (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    assessment_type TEXT NOT NULL,
    model TEXT NOT NULL,
    assessed_at TIMESTAMP NOT NULL,
    valid_until TIMESTAMP NOT NULL,
    tier TEXT NOT NULL,
    body TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expired_at TIMESTAMP
);
CREATE INDEX maturity_assessments_org ON maturity_assessments (organisation_id, assessed_at);
CREATE INDEX maturity_assessments_valid ON maturity_assessments (valid_until);

-- The compliance of each CSIRT as last evaluated, so that falling out of compliance is an
-- event exactly once.
CREATE TABLE maturity_compliance (
    organisation_id TEXT PRIMARY KEY NOT NULL REFERENCES organisations (id),
    compliant BOOLEAN NOT NULL,
    tier TEXT NOT NULL,
    checked_at TIMESTAMP NOT NULL
);
