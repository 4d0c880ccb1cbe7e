-- A deregistered entity acts no more: revoke the API clients that deregistrations made before
-- this release left active (deregistrations now revoke them in their own transaction).
UPDATE api_clients
SET revoked_at = date_trunc('microseconds', now() AT TIME ZONE 'UTC')
WHERE revoked_at IS NULL
  AND org_id IN (SELECT id FROM entities WHERE status = 'deregistered');
