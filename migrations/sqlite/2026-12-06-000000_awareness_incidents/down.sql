CREATE INDEX incidents_awareness ON incidents (created_at, sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
CREATE INDEX incidents_awareness_aware ON incidents (aware_at, sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
DROP TRIGGER incidents_awareness_mirror_delete;
DROP TRIGGER incidents_awareness_mirror_update;
DROP TRIGGER incidents_awareness_mirror_insert;
DROP TABLE awareness_incidents;
