DROP INDEX incidents_awareness_aware;
DROP TRIGGER incidents_awareness_delete;
DROP TRIGGER incidents_awareness_update;
DROP TRIGGER incidents_awareness_insert;
DROP TABLE awareness_stale;
DROP TABLE awareness_cells;
DROP TRIGGER entities_awareness_number;
DROP TABLE awareness_entity_numbers;
