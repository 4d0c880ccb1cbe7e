CREATE INDEX incidents_awareness ON incidents (created_at) INCLUDE (sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
CREATE INDEX incidents_awareness_aware ON incidents (aware_at) INCLUDE (sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
DROP TRIGGER incidents_awareness_mirror_update ON incidents;
DROP TRIGGER incidents_awareness_mirror_insert_delete ON incidents;
DROP FUNCTION awareness_mirror_incident();
DROP TABLE awareness_incidents;
