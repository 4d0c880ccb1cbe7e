-- What awareness counts of each incident, in a narrow table of its own kept by triggers in the
-- writing transaction (docs/ARCHITECTURE.md, "Awareness figures from kept cells"). The parts
-- of a period that kept cells do not hold (today, the ends of a period, stale days) are read
-- from here: an incident row is wide (its facts, decision and texts) and, on a day of many
-- reports, freshly written pages are not yet all-visible, so a covering index on `incidents`
-- still read every row's page. These rows are about a tenth of the size. It also replaces
-- the two wide covering indexes on `incidents`, which every report's writes had to update.
CREATE TABLE awareness_incidents (
    incident_id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    aware_at TIMESTAMP NOT NULL,
    entity_number BIGINT NOT NULL,
    sector TEXT NOT NULL,
    kind TEXT NOT NULL,
    significant BOOLEAN NOT NULL,
    late BOOLEAN NOT NULL,
    cross_border BOOLEAN NOT NULL,
    threat_type TEXT,
    root_cause_category TEXT,
    category TEXT,
    current_stage TEXT NOT NULL
);
INSERT INTO awareness_entity_numbers (entity_id)
SELECT DISTINCT entity_id FROM incidents ON CONFLICT DO NOTHING;
INSERT INTO awareness_incidents
SELECT i.id, i.created_at, i.aware_at, n.number, i.sector, i.kind, i.significant, i.late,
       i.cross_border, i.threat_type, i.root_cause_category, i.category, i.current_stage
FROM incidents i JOIN awareness_entity_numbers n ON n.entity_id = i.entity_id;
CREATE INDEX awareness_incidents_created_at ON awareness_incidents (created_at);
CREATE INDEX awareness_incidents_aware_at ON awareness_incidents (aware_at);

CREATE FUNCTION awareness_mirror_incident() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM awareness_incidents WHERE incident_id = OLD.id;
        RETURN NULL;
    END IF;
    -- Every entity is numbered when it is written; this keeps the row from being lost if not.
    INSERT INTO awareness_entity_numbers (entity_id) VALUES (NEW.entity_id) ON CONFLICT DO NOTHING;
    INSERT INTO awareness_incidents
    SELECT NEW.id, NEW.created_at, NEW.aware_at, n.number, NEW.sector, NEW.kind,
           NEW.significant, NEW.late, NEW.cross_border, NEW.threat_type,
           NEW.root_cause_category, NEW.category, NEW.current_stage
    FROM awareness_entity_numbers n WHERE n.entity_id = NEW.entity_id
    ON CONFLICT (incident_id) DO UPDATE SET
        created_at = EXCLUDED.created_at, aware_at = EXCLUDED.aware_at,
        entity_number = EXCLUDED.entity_number, sector = EXCLUDED.sector,
        kind = EXCLUDED.kind, significant = EXCLUDED.significant, late = EXCLUDED.late,
        cross_border = EXCLUDED.cross_border, threat_type = EXCLUDED.threat_type,
        root_cause_category = EXCLUDED.root_cause_category, category = EXCLUDED.category,
        current_stage = EXCLUDED.current_stage;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_awareness_mirror_insert_delete AFTER INSERT OR DELETE ON incidents
FOR EACH ROW EXECUTE FUNCTION awareness_mirror_incident();
CREATE TRIGGER incidents_awareness_mirror_update AFTER UPDATE ON incidents
FOR EACH ROW WHEN (
    OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.aware_at IS DISTINCT FROM NEW.aware_at
    OR OLD.entity_id IS DISTINCT FROM NEW.entity_id OR OLD.sector IS DISTINCT FROM NEW.sector
    OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.significant IS DISTINCT FROM NEW.significant
    OR OLD.late IS DISTINCT FROM NEW.late OR OLD.cross_border IS DISTINCT FROM NEW.cross_border
    OR OLD.threat_type IS DISTINCT FROM NEW.threat_type
    OR OLD.root_cause_category IS DISTINCT FROM NEW.root_cause_category
    OR OLD.category IS DISTINCT FROM NEW.category OR OLD.current_stage IS DISTINCT FROM NEW.current_stage
) EXECUTE FUNCTION awareness_mirror_incident();

DROP INDEX incidents_awareness;
DROP INDEX incidents_awareness_aware;
