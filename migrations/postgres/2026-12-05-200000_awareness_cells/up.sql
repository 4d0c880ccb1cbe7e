-- Awareness figures kept per day and per ISO week, so that a period's figures cost about
-- the same whatever its length (docs/ARCHITECTURE.md, "Awareness figures from kept cells").

-- Every entity gets a small number: a cell says exactly which entities stand behind it as a
-- set of these numbers, so distinct entities over many cells are counted exactly.
CREATE TABLE awareness_entity_numbers (
    number BIGSERIAL PRIMARY KEY,
    entity_id TEXT NOT NULL UNIQUE
);
INSERT INTO awareness_entity_numbers (entity_id) SELECT id FROM entities ORDER BY created_at, id;
CREATE FUNCTION awareness_number_entity() RETURNS trigger AS $$
BEGIN
    INSERT INTO awareness_entity_numbers (entity_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER entities_awareness_number AFTER INSERT ON entities
FOR EACH ROW EXECUTE FUNCTION awareness_number_entity();

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
    entities BYTEA NOT NULL,
    PRIMARY KEY (basis, grouping, sector, span, unit, key)
);

-- Days whose kept cells no longer match the incidents: marked by the trigger below in the
-- writing transaction (no round trip), cleared when the cells are rebuilt. A stale day is
-- counted from the incidents themselves until then.
CREATE TABLE awareness_stale (
    basis TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (basis, day)
);
INSERT INTO awareness_stale (basis, day)
SELECT DISTINCT 'reported', to_char(created_at, 'YYYY-MM-DD') FROM incidents
UNION SELECT DISTINCT 'aware', to_char(aware_at, 'YYYY-MM-DD') FROM incidents;

CREATE FUNCTION awareness_mark_stale() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO awareness_stale (basis, day)
        VALUES ('reported', to_char(OLD.created_at, 'YYYY-MM-DD')),
               ('aware', to_char(OLD.aware_at, 'YYYY-MM-DD'))
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO awareness_stale (basis, day)
        VALUES ('reported', to_char(NEW.created_at, 'YYYY-MM-DD')),
               ('aware', to_char(NEW.aware_at, 'YYYY-MM-DD'))
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_awareness_insert_delete AFTER INSERT OR DELETE ON incidents
FOR EACH ROW EXECUTE FUNCTION awareness_mark_stale();
CREATE TRIGGER incidents_awareness_update AFTER UPDATE ON incidents
FOR EACH ROW WHEN (
    OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.aware_at IS DISTINCT FROM NEW.aware_at
    OR OLD.entity_id IS DISTINCT FROM NEW.entity_id OR OLD.sector IS DISTINCT FROM NEW.sector
    OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.significant IS DISTINCT FROM NEW.significant
    OR OLD.late IS DISTINCT FROM NEW.late OR OLD.cross_border IS DISTINCT FROM NEW.cross_border
    OR OLD.threat_type IS DISTINCT FROM NEW.threat_type
    OR OLD.root_cause_category IS DISTINCT FROM NEW.root_cause_category
    OR OLD.category IS DISTINCT FROM NEW.category OR OLD.current_stage IS DISTINCT FROM NEW.current_stage
) EXECUTE FUNCTION awareness_mark_stale();

-- By awareness time, a period's stale days and its unfinished edges are read from this index
-- alone, as `incidents_awareness` does for report time.
CREATE INDEX incidents_awareness_aware ON incidents (aware_at) INCLUDE (sector, kind, significant, late, cross_border, entity_id, threat_type, root_cause_category, category, current_stage);
