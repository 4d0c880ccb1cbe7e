-- The webhook worker claims an organisation's longest-due delivery from this index (its
-- pending deliveries in due order), and finds the organisations with pending deliveries by
-- skipping along it: the cost of a claim does not follow the backlog. A delivery carries its
-- subscription's organisation (a subscription never changes organisation) so that one index
-- serves both. It replaces the index on (status, next_attempt_at), its use gone.
ALTER TABLE webhook_deliveries ADD COLUMN org_id TEXT;
UPDATE webhook_deliveries
SET org_id = webhooks.org_id FROM webhooks WHERE webhooks.id = webhook_deliveries.webhook_id;
ALTER TABLE webhook_deliveries ALTER COLUMN org_id SET NOT NULL;
CREATE INDEX webhook_deliveries_claim ON webhook_deliveries (status, org_id, next_attempt_at, id);
DROP INDEX webhook_deliveries_due;
