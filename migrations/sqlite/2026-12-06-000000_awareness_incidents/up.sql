-- What awareness counts of each incident, in a narrow table of its own kept by triggers in the
-- writing transaction (docs/ARCHITECTURE.md, "Awareness figures from kept cells"); the same
-- table as on PostgreSQL, where the wide incident rows made the uncovered parts of a period
-- slow. It replaces the two wide covering indexes on `incidents`.
CREATE TABLE awareness_incidents (
    incident_id TEXT PRIMARY KEY NOT NULL,
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
INSERT OR IGNORE INTO awareness_entity_numbers (entity_id) SELECT DISTINCT entity_id FROM incidents;
INSERT INTO awareness_incidents
SELECT i.id, i.created_at, i.aware_at, n.number, i.sector, i.kind, i.significant, i.late,
       i.cross_border, i.threat_type, i.root_cause_category, i.category, i.current_stage
FROM incidents i JOIN awareness_entity_numbers n ON n.entity_id = i.entity_id;
CREATE INDEX awareness_incidents_created_at ON awareness_incidents (created_at);
CREATE INDEX awareness_incidents_aware_at ON awareness_incidents (aware_at);

CREATE TRIGGER incidents_awareness_mirror_insert AFTER INSERT ON incidents BEGIN
    INSERT OR IGNORE INTO awareness_entity_numbers (entity_id) VALUES (NEW.entity_id);
    INSERT OR REPLACE INTO awareness_incidents
    SELECT NEW.id, NEW.created_at, NEW.aware_at, n.number, NEW.sector, NEW.kind,
           NEW.significant, NEW.late, NEW.cross_border, NEW.threat_type,
           NEW.root_cause_category, NEW.category, NEW.current_stage
    FROM awareness_entity_numbers n WHERE n.entity_id = NEW.entity_id;
END;
CREATE TRIGGER incidents_awareness_mirror_update AFTER UPDATE ON incidents
WHEN OLD.created_at IS NOT NEW.created_at OR OLD.aware_at IS NOT NEW.aware_at
  OR OLD.entity_id IS NOT NEW.entity_id OR OLD.sector IS NOT NEW.sector
  OR OLD.kind IS NOT NEW.kind OR OLD.significant IS NOT NEW.significant
  OR OLD.late IS NOT NEW.late OR OLD.cross_border IS NOT NEW.cross_border
  OR OLD.threat_type IS NOT NEW.threat_type OR OLD.root_cause_category IS NOT NEW.root_cause_category
  OR OLD.category IS NOT NEW.category OR OLD.current_stage IS NOT NEW.current_stage
BEGIN
    INSERT OR IGNORE INTO awareness_entity_numbers (entity_id) VALUES (NEW.entity_id);
    INSERT OR REPLACE INTO awareness_incidents
    SELECT NEW.id, NEW.created_at, NEW.aware_at, n.number, NEW.sector, NEW.kind,
           NEW.significant, NEW.late, NEW.cross_border, NEW.threat_type,
           NEW.root_cause_category, NEW.category, NEW.current_stage
    FROM awareness_entity_numbers n WHERE n.entity_id = NEW.entity_id;
END;
CREATE TRIGGER incidents_awareness_mirror_delete AFTER DELETE ON incidents BEGIN
    DELETE FROM awareness_incidents WHERE incident_id = OLD.id;
END;

DROP INDEX incidents_awareness;
DROP INDEX incidents_awareness_aware;
