DROP INDEX advisories_published_updated_at;
ALTER TABLE advisories DROP COLUMN published_updated_at;
ALTER TABLE advisories DROP COLUMN published_version;
