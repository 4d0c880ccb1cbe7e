CREATE INDEX incidents_created_at ON incidents (created_at);
DROP INDEX incidents_awareness;
