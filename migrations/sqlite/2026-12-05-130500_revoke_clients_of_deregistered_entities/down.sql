-- A revocation is not undone: the clients of a deregistered entity stay revoked.
SELECT 1;
