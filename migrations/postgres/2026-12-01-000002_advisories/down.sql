DROP TABLE entity_domains;
DROP TABLE entity_networks;
DROP TABLE advisory_sectors;
DROP TABLE advisory_cves;
DROP TABLE advisory_readers;
DROP TABLE advisory_revisions;
DROP TABLE advisories;
