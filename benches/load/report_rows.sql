-- pgbench script of the load kit: the rows that one report of the write mix stores, written by
-- PostgreSQL alone in ONE statement (one round trip, planned once with -M prepared), with no
-- read of the rules, no service, no HTTP. Nothing that stores these rows can cost the database
-- less, so what this reaches on the machine is the ceiling of any write path for reports of
-- this shape; its CPU a transaction against the one-row floor's bounds the reports/s a
-- CPU-bound machine can reach as a share of the floor.
--
-- The shape is the write mix's new incident (early warning, significant, routed to a sectoral
-- CSIRT and an authority): one incident (its indexes, its entity foreign key and the trigger
-- that copies what awareness counts into awareness_incidents), its
-- report, its decision, two recipients, two open deadlines, two events (`incident.routed`,
-- `incident.reported`) with five recipient rows, one audit record. The text columns are as
-- long as the averages the kit measured on the mix's own rows (-D facts, decision, body,
-- data). ordered = 1 takes the service's write lock (pg_advisory_xact_lock) first and holds it
-- to the commit, as numbering events, audit records and references in commit order needs;
-- ordered = 0 leaves every commit free.
--
-- Ids grow with time, as the service's UUIDv7 ids do ('zz' and a number: every new key goes
-- to the right edge of its index, after the service's ids). The kit creates
-- load_bound_entities (n, id, sector) and the sequence load_bound_seq (counting in fives: one
-- number for the incident and its rows, four more for its report, events and audit record)
-- before, and deletes every row this wrote after (references start with BOUND-, sequence
-- numbers from load_bound_seq's start).
\set e random(1, :entities)
WITH ent AS (SELECT id, sector FROM load_bound_entities WHERE n = :e),
ids AS (
  SELECT (CASE WHEN :ordered = 1 THEN pg_advisory_xact_lock(:lock_key)::text END) AS locked,
         'zz' || lpad(n::text, 19, '0') AS iid, 'zz' || lpad((n + 1)::text, 19, '0') AS rid,
         n + 2 AS s1, n + 3 AS s2, n + 4 AS a1
  FROM (SELECT nextval('load_bound_seq') AS n) seq
),
inc AS (
  INSERT INTO incidents (id, reference, entity_id, sector, status, current_stage, aware_at,
    occurred_at, significant, mandatory, cross_border, cross_sectoral, late, tlp, facts,
    decision, version, created_at, updated_at, kind, category, root_cause_key)
  SELECT ids.iid, 'BOUND-' || ids.iid, ent.id, ent.sector, 'open', 'early_warning', now(),
    now(), true, true, false, false, false, 'AMBER', repeat('f', :facts),
    repeat('d', :decision), 1, now(), now(), 'incident', 'essential', md5(ent.id)
  FROM ids, ent RETURNING id
),
rep AS (
  INSERT INTO incident_reports (id, incident_id, number, stage, submitted_at, submitted_by, body)
  SELECT ids.rid, ids.iid, 1, 'early_warning', now(), 'load-bound', repeat('b', :body)
  FROM ids, inc RETURNING id
),
dec AS (
  INSERT INTO incident_decisions (incident_id, number, report_id, decided_at, decision)
  SELECT ids.iid, 1, ids.rid, now(), repeat('d', :decision) FROM ids, inc RETURNING number
),
rcp AS (
  INSERT INTO incident_recipients (incident_id, org_id, role, since)
  SELECT ids.iid, o, r, now()
  FROM ids, inc, (VALUES ('bound-csirt', 'sectoral_csirt'), ('bound-authority', 'authority')) v(o, r)
  RETURNING role
),
ddl AS (
  INSERT INTO incident_deadlines (incident_id, stage, request_id, due_at)
  SELECT ids.iid, st, '', now() + interval '3 days'
  FROM ids, inc, (VALUES ('notification'), ('final')) v(st) RETURNING stage
),
ev AS (
  INSERT INTO events (seq, id, type, occurred_at, subject_type, subject_id, significant, data)
  SELECT s, 'zz' || lpad(s::text, 19, '0'), t, now(), 'incident', ids.iid, true, repeat('x', :data)
  FROM ids, LATERAL (VALUES (ids.s1, 'incident.routed'), (ids.s2, 'incident.reported')) v(s, t)
  RETURNING seq
),
er AS (
  INSERT INTO event_recipients (org_id, seq)
  SELECT o, s FROM ids, LATERAL (VALUES ('bound-csirt', ids.s1), ('bound-authority', ids.s1),
    ('bound-csirt', ids.s2), ('bound-authority', ids.s2), ('bound-entity', ids.s2)) v(o, s)
  WHERE EXISTS (SELECT 1 FROM ev)
  RETURNING seq
),
aud AS (
  INSERT INTO audit_log (seq, id, at, actor_org, actor_sub, actor_role, action, resource_type,
    resource_id, request_id, prev_hash, hash)
  SELECT ids.a1, 'zz' || lpad(ids.a1::text, 19, '0'), now(), 'load-bound', 'load-bound', 'national_csirt',
    'incident.report', 'incident', ids.iid, md5(ids.iid), md5(ids.rid) || md5(ids.iid),
    md5(ids.iid) || md5(ids.rid)
  FROM ids, inc RETURNING seq
)
SELECT (SELECT count(*) FROM rep) + (SELECT count(*) FROM dec) + (SELECT count(*) FROM rcp)
  + (SELECT count(*) FROM ddl) + (SELECT count(*) FROM er) + (SELECT count(*) FROM aud);
