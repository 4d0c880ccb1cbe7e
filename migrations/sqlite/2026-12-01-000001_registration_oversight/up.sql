-- A deregistration the entity asked for, waiting for its authority or the national CSIRT
-- (JSON: reason, requested_by, requested_at); NULL when none is pending.
ALTER TABLE entities ADD COLUMN deregistration_request TEXT;
-- What a change did that its CSIRT and authority must notice (JSON list of flags).
ALTER TABLE entity_versions ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
