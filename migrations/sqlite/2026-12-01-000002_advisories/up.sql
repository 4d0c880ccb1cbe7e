-- Advisories: the working copy (body) and, once published, what readers see (published_body).
-- tlp, audience, severity and the cve/sector rows describe what readers see.
CREATE TABLE advisories (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    issuer_id TEXT NOT NULL REFERENCES organisations (id),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
    tlp TEXT NOT NULL,
    audience TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL,
    published_body TEXT,
    pending_changes BOOLEAN NOT NULL,
    revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    withdrawn_at TIMESTAMP,
    withdrawn_reason TEXT
);
CREATE INDEX advisories_issuer ON advisories (issuer_id, id);
CREATE INDEX advisories_updated_at ON advisories (updated_at, id);

-- Every publication (and the withdrawal): numbered, with the full text as published.
CREATE TABLE advisory_revisions (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    number INTEGER NOT NULL,
    date TIMESTAMP NOT NULL,
    summary TEXT NOT NULL,
    published_by TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (advisory_id, number)
);

-- Who may read an advisory whose TLP limits it to its audience (AMBER, AMBER+STRICT, RED),
-- resolved at publication.
CREATE TABLE advisory_readers (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    org_id TEXT NOT NULL,
    PRIMARY KEY (advisory_id, org_id)
);
CREATE INDEX advisory_readers_org ON advisory_readers (org_id, advisory_id);

CREATE TABLE advisory_cves (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    cve TEXT NOT NULL,
    PRIMARY KEY (advisory_id, cve)
);
CREATE INDEX advisory_cves_cve ON advisory_cves (cve, advisory_id);

CREATE TABLE advisory_sectors (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    sector TEXT NOT NULL,
    PRIMARY KEY (advisory_id, sector)
);
CREATE INDEX advisory_sectors_sector ON advisory_sectors (sector, advisory_id);

-- The registered IP ranges of entities as fixed-width hex bounds (IPv4 as IPv4-mapped IPv6,
-- 32 hex digits), so an overlap with an advisory's ranges is an indexed range query.
CREATE TABLE entity_networks (
    entity_id TEXT NOT NULL REFERENCES entities (id),
    range_start TEXT NOT NULL,
    range_end TEXT NOT NULL,
    PRIMARY KEY (entity_id, range_start, range_end)
);
CREATE INDEX entity_networks_start ON entity_networks (range_start, range_end);

-- The registered domains of entities, labels reversed (example.nl -> nl.example.), so that
-- a domain and its subdomains are one indexed range.
CREATE TABLE entity_domains (
    entity_id TEXT NOT NULL REFERENCES entities (id),
    reversed TEXT NOT NULL,
    PRIMARY KEY (entity_id, reversed)
);
CREATE INDEX entity_domains_reversed ON entity_domains (reversed);
