-- Awareness figures kept per day and per ISO week, so that a period's figures cost about
-- the same whatever its length (docs/ARCHITECTURE.md, "Awareness figures from kept cells").

-- Every entity gets a small number: a cell says exactly which entities stand behind it as a
-- set of these numbers, so distinct entities over many cells are counted exactly.
CREATE TABLE awareness_entity_numbers (
    number INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL UNIQUE
);
INSERT INTO awareness_entity_numbers (entity_id) SELECT id FROM entities ORDER BY created_at, id;
CREATE TRIGGER entities_awareness_number AFTER INSERT ON entities BEGIN
    INSERT OR IGNORE INTO awareness_entity_numbers (entity_id) VALUES (NEW.id);
END;

-- The figures of one day or one ISO week (`span`, `unit`), one grouping, one sector (or `*`
-- for all sectors) and one key ('' where the incidents leave the grouping's column unset).
CREATE TABLE awareness_cells (
    basis TEXT NOT NULL,
    grouping TEXT NOT NULL,
    sector TEXT NOT NULL,
    span TEXT NOT NULL,
    unit TEXT NOT NULL,
    key TEXT NOT NULL,
    incidents BIGINT NOT NULL,
    significant BIGINT NOT NULL,
    late BIGINT NOT NULL,
    near_misses BIGINT NOT NULL,
    cyber_threats BIGINT NOT NULL,
    cross_border BIGINT NOT NULL,
    entities BLOB NOT NULL,
    PRIMARY KEY (basis, grouping, sector, span, unit, key)
);

-- Days whose kept cells no longer match the incidents: marked by the triggers below in the
-- writing transaction (no round trip), cleared when the cells are rebuilt. A stale day is
-- counted from the incidents themselves until then.
CREATE TABLE awareness_stale (
    basis TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (basis, day)
);
INSERT OR IGNORE INTO awareness_stale (basis, day) SELECT DISTINCT 'reported', date(created_at) FROM incidents;
INSERT OR IGNORE INTO awareness_stale (basis, day) SELECT DISTINCT 'aware', date(aware_at) FROM incidents;

CREATE TRIGGER incidents_awareness_insert AFTER INSERT ON incidents BEGIN
    INSERT OR IGNORE INTO awareness_stale (basis, day)
    VALUES ('reported', date(NEW.created_at)), ('aware', date(NEW.aware_at));
END;
CREATE TRIGGER incidents_awareness_update AFTER UPDATE ON incidents
WHEN OLD.created_at IS NOT NEW.created_at OR OLD.aware_at IS NOT NEW.aware_at
  OR OLD.entity_id IS NOT NEW.entity_id OR OLD.sector IS NOT NEW.sector
  OR OLD.kind IS NOT NEW.kind OR OLD.significant IS NOT NEW.significant
  OR OLD.late IS NOT NEW.late OR OLD.cross_border IS NOT NEW.cross_border
  OR OLD.threat_type IS NOT NEW.threat_type OR OLD.root_cause_category IS NOT NEW.root_cause_category
  OR OLD.category IS NOT NEW.category OR OLD.current_stage IS NOT NEW.current_stage
BEGIN
    INSERT OR IGNORE INTO awareness_stale (basis, day)
    VALUES ('reported', date(OLD.created_at)), ('aware', date(OLD.aware_at)),
           ('reported', date(NEW.created_at)), ('aware', date(NEW.aware_at));
END;
CREATE TRIGGER incidents_awareness_delete AFTER DELETE ON incidents BEGIN
    INSERT OR IGNORE INTO awareness_stale (basis, day)
    VALUES ('reported', date(OLD.created_at)), ('aware', date(OLD.aware_at));
END;

-- By awareness time, a period's stale days and its unfinished edges are read from this index
-- alone, as `incidents_awareness` does for report time.
CREATE INDEX incidents_awareness_aware ON incidents (aware_at, sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
