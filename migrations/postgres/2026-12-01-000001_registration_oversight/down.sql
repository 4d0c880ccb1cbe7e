ALTER TABLE entity_versions DROP COLUMN flags;
ALTER TABLE entities DROP COLUMN deregistration_request;
