-- Counters handed out under the write lock (incident references per year).
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    entity_id TEXT NOT NULL REFERENCES entities (id),
    sector TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    current_stage TEXT NOT NULL,
    aware_at TIMESTAMP NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    significant BOOLEAN NOT NULL,
    mandatory BOOLEAN NOT NULL,
    cross_border BOOLEAN NOT NULL,
    cross_sectoral BOOLEAN NOT NULL,
    late BOOLEAN NOT NULL,
    tlp TEXT NOT NULL,
    facts TEXT NOT NULL,
    decision TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP
);
CREATE INDEX incidents_entity ON incidents (entity_id, id);
CREATE INDEX incidents_sector ON incidents (sector, id);
CREATE INDEX incidents_updated_at ON incidents (updated_at, id);

CREATE TABLE incident_reports (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    number INTEGER NOT NULL,
    stage TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    submitted_by TEXT NOT NULL,
    body TEXT NOT NULL,
    handling_ended_at TIMESTAMP,
    review_status TEXT CHECK (review_status IN ('under_review', 'passed', 'revision_required')),
    review_comment TEXT,
    reviewed_by TEXT,
    reviewed_at TIMESTAMP
);
CREATE UNIQUE INDEX incident_reports_number ON incident_reports (incident_id, number);

CREATE TABLE incident_decisions (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    number INTEGER NOT NULL,
    report_id TEXT,
    decided_at TIMESTAMP NOT NULL,
    decision TEXT NOT NULL,
    PRIMARY KEY (incident_id, number)
);

CREATE TABLE incident_recipients (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    org_id TEXT NOT NULL,
    role TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, org_id, role)
);
CREATE INDEX incident_recipients_org ON incident_recipients (org_id, incident_id);

CREATE TABLE incident_requests (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    requested_by TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX incident_requests_incident ON incident_requests (incident_id, requested_at);

-- One row per deadline still to be met, for the sweep; a missed deadline is marked once.
CREATE TABLE incident_deadlines (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    stage TEXT NOT NULL,
    request_id TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    missed_at TIMESTAMP,
    PRIMARY KEY (incident_id, stage, request_id)
);
CREATE INDEX incident_deadlines_due ON incident_deadlines (due_at);

-- The event log behind the feed and webhooks. seq is handed out under the write lock, so it
-- grows in commit order and a reader paging by seq never skips an event.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    significant BOOLEAN NOT NULL,
    data TEXT NOT NULL
);

CREATE TABLE event_recipients (
    org_id TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES events (seq),
    PRIMARY KEY (org_id, seq)
);
