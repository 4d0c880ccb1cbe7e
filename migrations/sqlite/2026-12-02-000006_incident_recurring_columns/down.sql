DROP INDEX incidents_recurring;
ALTER TABLE incidents DROP COLUMN financial_loss_eur;
ALTER TABLE incidents DROP COLUMN root_cause_key;
DELETE FROM counters WHERE name = 'incidents_recurring_indexed';
