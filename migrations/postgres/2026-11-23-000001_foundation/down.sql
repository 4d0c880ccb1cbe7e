DROP TABLE audit_log;
DROP TABLE idempotency_keys;
DROP TABLE api_clients;
DROP TABLE entity_versions;
DROP TABLE entities;
DROP TABLE organisations;
