-- The recurring-incident rule (IR 2024/2690 Art. 4) compares a report's root cause with the
-- entity's earlier incidents of the window. These columns hold what it needs of them, so it
-- reads a few index entries of the same entity and root cause instead of the facts of every
-- earlier incident: `root_cause_key`, a digest of the root cause as the rule compares it
-- (trimmed, ASCII letters folded), and the financial loss. The incidents stored before are
-- filled in at start, once (see `incidents::repo::backfill_recurring`).
ALTER TABLE incidents ADD COLUMN root_cause_key TEXT;
ALTER TABLE incidents ADD COLUMN financial_loss_eur BIGINT;
CREATE INDEX incidents_recurring ON incidents (entity_id, root_cause_key, occurred_at, financial_loss_eur, id);
DELETE FROM counters WHERE name = 'incidents_recurring_indexed';
