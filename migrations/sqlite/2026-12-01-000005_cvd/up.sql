-- Coordinated vulnerability disclosure (NIS2 Art. 12): cases, their vendors and messages.
-- Case and vendor tokens are kept only as SHA-256 hashes. An anonymous case keeps nothing
-- about its finder beyond what the finder typed (no address, no user agent).
CREATE TABLE cvd_cases (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('received', 'triaged', 'coordinating', 'disclosed', 'rejected', 'duplicate')),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    vendor_hint TEXT,
    product TEXT,
    versions TEXT NOT NULL,
    cves TEXT NOT NULL,
    finder TEXT,
    reporter_org TEXT,
    reporter_sub TEXT,
    case_token_hash TEXT UNIQUE,
    coordinator_id TEXT NOT NULL REFERENCES organisations (id),
    co_coordinators TEXT NOT NULL,
    wanted_disclosure_at TIMESTAMP,
    embargo_until TIMESTAMP,
    acknowledge_due_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    acknowledge_missed_at TIMESTAMP,
    reason TEXT,
    duplicate_of TEXT REFERENCES cvd_cases (id),
    advisory_id TEXT,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP
);
CREATE INDEX cvd_cases_coordinator ON cvd_cases (coordinator_id, id);
CREATE INDEX cvd_cases_updated_at ON cvd_cases (updated_at, id);
CREATE INDEX cvd_cases_acknowledge ON cvd_cases (acknowledge_due_at);

CREATE TABLE cvd_vendors (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cvd_cases (id),
    name TEXT NOT NULL,
    entity_id TEXT REFERENCES entities (id),
    contact_email TEXT,
    token_hash TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('unknown', 'affected', 'not_affected', 'fixed', 'unresponsive')),
    statement TEXT,
    notified_at TIMESTAMP NOT NULL,
    answer_due_at TIMESTAMP NOT NULL,
    responded_at TIMESTAMP,
    unresponsive_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (case_id, entity_id)
);
CREATE INDEX cvd_vendors_case ON cvd_vendors (case_id, id);
CREATE INDEX cvd_vendors_entity ON cvd_vendors (entity_id);
CREATE INDEX cvd_vendors_answer ON cvd_vendors (answer_due_at);

CREATE TABLE cvd_messages (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cvd_cases (id),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('coordinator', 'finder', 'vendor')),
    author_id TEXT,
    author_name TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('everyone', 'coordinators', 'vendors', 'finder')),
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX cvd_messages_case ON cvd_messages (case_id, id);
