-- What readers other than the issuer see of an advisory: the version (its ETag) and the time
-- of the last published or withdrawn revision. The issuer's edits of the next revision change
-- `version` and `updated_at` only, so readers' caches and `updated_since` stay still until the
-- revision is published. Filled for the advisories published so far from their last revision.
ALTER TABLE advisories ADD COLUMN published_version BIGINT;
ALTER TABLE advisories ADD COLUMN published_updated_at TIMESTAMP;
UPDATE advisories SET
    published_version = version,
    published_updated_at = COALESCE(
        (SELECT MAX(r.date) FROM advisory_revisions r WHERE r.advisory_id = advisories.id),
        updated_at)
WHERE status <> 'draft';
CREATE INDEX advisories_published_updated_at ON advisories (published_updated_at, id);
