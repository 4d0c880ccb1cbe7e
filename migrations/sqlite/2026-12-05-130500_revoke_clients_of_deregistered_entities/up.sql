-- A deregistered entity acts no more: revoke the API clients that deregistrations made before
-- this release left active (deregistrations now revoke them in their own transaction).
UPDATE api_clients
SET revoked_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE revoked_at IS NULL
  AND org_id IN (SELECT id FROM entities WHERE status = 'deregistered');
