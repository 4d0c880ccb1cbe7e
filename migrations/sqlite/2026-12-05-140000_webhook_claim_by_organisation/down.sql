CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
DROP INDEX webhook_deliveries_claim;
ALTER TABLE webhook_deliveries DROP COLUMN org_id;
