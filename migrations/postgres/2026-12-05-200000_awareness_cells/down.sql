DROP INDEX incidents_awareness_aware;
DROP TRIGGER incidents_awareness_update ON incidents;
DROP TRIGGER incidents_awareness_insert_delete ON incidents;
DROP FUNCTION awareness_mark_stale();
DROP TABLE awareness_stale;
DROP TABLE awareness_cells;
DROP TRIGGER entities_awareness_number ON entities;
DROP FUNCTION awareness_number_entity();
DROP TABLE awareness_entity_numbers;
