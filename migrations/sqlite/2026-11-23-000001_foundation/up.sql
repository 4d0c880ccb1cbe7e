CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('national_csirt', 'sectoral_csirt', 'supervisory_authority')),
    coverage TEXT NOT NULL,
    contact TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- At most one national CSIRT.
CREATE UNIQUE INDEX organisations_one_national_csirt ON organisations (kind) WHERE kind = 'national_csirt';

CREATE TABLE entities (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    identifier TEXT NOT NULL,
    country TEXT NOT NULL,
    sector TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('essential', 'important', 'out_of_scope')),
    status TEXT NOT NULL CHECK (status IN ('registered', 'deregistered')),
    body TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX entities_country_identifier ON entities (country, identifier);
CREATE INDEX entities_sector_id ON entities (sector, id);
CREATE INDEX entities_category_id ON entities (category, id);
CREATE INDEX entities_updated_at ON entities (updated_at, id);

CREATE TABLE entity_versions (
    entity_id TEXT NOT NULL REFERENCES entities (id),
    version INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    changed_by TEXT NOT NULL,
    change TEXT NOT NULL,
    PRIMARY KEY (entity_id, version)
);

CREATE TABLE api_clients (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    org_id TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (caller, key)
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    at TIMESTAMP NOT NULL,
    actor_org TEXT NOT NULL,
    actor_sub TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    client_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, seq);
