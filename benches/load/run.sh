#!/usr/bin/env bash
# The load kit: builds and starts the release binary on a fresh database, seeds entities and a
# history of incidents, runs the write mix (clients reporting incidents) and the read mix
# (feed pages, incident and entity list pages, situational awareness over the last 28 days and
# over the last 366 days) with wrk, runs pgbench's one-row INSERT transaction (the commit floor)
# beside it, and the rows of one report written by PostgreSQL alone in one statement
# (report_rows.sql: the ceiling of any write path), and prints one table with the ratios and the
# CPU time each request cost (from /proc: the service, the PostgreSQL server's processes and
# the whole machine).
#
#   benches/load/run.sh [--backend sqlite|postgres|both] [--entities N] [--incidents M]
#                       [--duration SECONDS] [--clients C] [--history-days D] [--smoke]
#
# --history-days: how far back the seeded history reaches (default 1095, three years), spread
# evenly; with M scaled by the same factor the incidents of any period stay the same, so a read
# of a period can be compared across register sizes at a constant reporting rate.
# --smoke: seconds, tiny N and M, the debug binary that the tests built; CI runs it so the kit
# cannot rot. Environment: PG_URL_BASE (default postgres://postgres:postgres@127.0.0.1:5432),
# PORT (18205), BIN (a prebuilt binary), KEEP=1 (keep the work directory with the SQLite
# database and the logs, and the PostgreSQL database, for EXPLAIN), NIS2HUB_* (passed to the
# service).
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$kit/../.." && pwd)
cd "$root"

backend=both entities=1000 incidents=10000 duration=30 clients=32 smoke=0 history_days=1095
while [ $# -gt 0 ]; do
  case $1 in
    --backend) backend=$2; shift 2 ;;
    --entities) entities=$2; shift 2 ;;
    --incidents) incidents=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --history-days) history_days=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 1 ]; then
  entities=${SMOKE_ENTITIES:-12} incidents=${SMOKE_INCIDENTS:-300} duration=2 clients=8
fi
port=${PORT:-18205}
pg_base=${PG_URL_BASE:-postgres://postgres:postgres@127.0.0.1:5432}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }

if [ -n "${BIN:-}" ]; then
  bin=$BIN
elif [ "$smoke" = 1 ]; then
  cargo build -q
  bin=${CARGO_TARGET_DIR:-target}/debug/nis2hub
else
  cargo build -q --release
  bin=${CARGO_TARGET_DIR:-target}/release/nis2hub
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# psql against the server of PG_URL_BASE, as its user.
pg() { psql -q -v ON_ERROR_STOP=1 "$pg_base/postgres" "$@"; }

# Fields of wrk's RESULT line: field NAME LINE.
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# CPU time, in clock ticks, from /proc: of one process (user + system), of all processes of
# the PostgreSQL server's user, and of the whole machine ("busy idle", idle with iowait).
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
  local sum=0 pid
  for pid in $(pgrep -u postgres 2>/dev/null || true); do sum=$((sum + $(proc_ticks "$pid"))); done
  echo "$sum"
}
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }

# machine_per REQUESTS "B0 I0" "B1 I1": the whole machine's CPU ms a request and its idle share.
machine_per() {
  awk -v n="$1" -v a="$2" -v b="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]
    if (n == 0 || busy + idle == 0) { print "-"; exit }
    printf "%.2f, %.0f %% idle", 1000 * busy / hz / n, 100 * idle / (busy + idle) }'
}

# cpu_per NAME REQUESTS S0 S1 P0 P1 "B0 I0" "B1 I1": CPU ms a request of the service, of
# PostgreSQL and of the whole machine, and the machine's idle share, as one field.
cpu_per() {
  local name=$1 n=$2
  if [ "${n:-0}" = 0 ]; then cpu[$name]="-"; return; fi
  cpu[$name]=$(awk -v n="$n" -v s=$(($4 - $3)) -v p=$(($6 - $5)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f / %.2f / ", 1000 * s / hz / n, 1000 * p / hz / n }')$(machine_per "$n" "$7" "$8")
}

# run_wrk NAME SCRIPT [ENV...]: one wrk run against the service; keeps the RESULT line and
# the CPU the run cost.
run_wrk() {
  local name=$1 script=$2 line s0 p0 m0
  shift 2
  s0=$(proc_ticks "$server_pid") p0=$(pg_ticks) m0=$(machine_ticks)
  line=$(env KIT="$kit" TOKEN="$token" IDS="$work/ids" "$@" \
    wrk -t2 -c"$clients" -d"${duration}s" --timeout 2s -s "$kit/$script" "http://127.0.0.1:$port" \
    2>"$work/$name.err" | grep '^RESULT' || true)
  if [ -z "$line" ]; then echo "wrk gave no result for $name:" >&2; cat "$work/$name.err" >&2; exit 1; fi
  cpu_per "$name" "$(field requests "$line")" "$s0" "$(proc_ticks "$server_pid")" "$p0" "$(pg_ticks)" \
    "$m0" "$(machine_ticks)"
  results[$name]=$line
  settle
}

# settle: waits (up to 60 s) until /readyz, which needs a pooled connection, answers within
# 0.2 s three times running, so that requests a mix's clients gave up on (the server still
# finishes them) do not hold the pool when the next mix starts.
settle() {
  local fast=0
  for _ in $(seq 1 300); do
    if curl -sf -m 0.2 "http://127.0.0.1:$port/readyz" >/dev/null; then fast=$((fast + 1)); else fast=0; fi
    [ "$fast" -ge 3 ] && return 0
    sleep 0.2
  done
  echo "the service did not settle within 60 s" >&2
}

# pgbench_run ARGS...: one pgbench run, same clients and duration as the mixes; sets
# bench_tps and bench_cpu, the machine's CPU ms a transaction and its idle share (pgbench's
# server processes end with the run, so only the machine's count). A failed run stops the kit.
pgbench_run() {
  local out m0
  m0=$(machine_ticks)
  out=$(pgbench -n -c "$clients" -j 2 -T "$duration" "$@" 2>&1) || { echo "$out" >&2; exit 1; }
  bench_cpu=$(machine_per "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")" \
    "$m0" "$(machine_ticks)")
  bench_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
}

# share A B: A as a percentage of B.
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", 100 * a / b }'; }

# The one-row INSERT transaction of pgbench: the commit floor. Sets floor_tps and floor_cpu.
floor() {
  pg -c "DROP DATABASE IF EXISTS nis2hub_load_floor" -c "CREATE DATABASE nis2hub_load_floor"
  psql -q "$pg_base/nis2hub_load_floor" -c "CREATE TABLE floor (id BIGSERIAL PRIMARY KEY, v DOUBLE PRECISION NOT NULL)"
  echo 'INSERT INTO floor (v) VALUES (random());' > "$work/floor.sql"
  pgbench_run -f "$work/floor.sql" "$pg_base/nis2hub_load_floor"
  floor_tps=$bench_tps floor_cpu=$bench_cpu
}

# The rows of one report written by PostgreSQL alone (report_rows.sql), against the service's
# database once the service has stopped: unordered (no lock) and ordered (the write lock held
# to the commit; lock_key is the service's write lock, WRITE_LOCK in src/db/mod.rs). Sets
# bound_free and bound_ordered ("N tps (machine CPU ms a transaction: ms, idle share)") and
# deletes every row it wrote, so a kept database (KEEP=1) holds only what the service wrote.
bound() {
  local url=$1 lengths ordered line
  psql -q -v ON_ERROR_STOP=1 "$url" \
    -c "CREATE TABLE load_bound_entities AS SELECT row_number() OVER (ORDER BY id) AS n, id, sector FROM entities" \
    -c "CREATE UNIQUE INDEX ON load_bound_entities (n)" -c "ANALYZE load_bound_entities" \
    -c "CREATE SEQUENCE load_bound_seq START 4000000000000000000 INCREMENT 5"
  # The text columns as long as the write mix's own rows (the newest thousand of each).
  lengths=$(psql -At -F ' ' "$url" -c "SELECT
      (SELECT ceil(avg(length(facts))) FROM (SELECT facts FROM incidents ORDER BY created_at DESC LIMIT 1000) f),
      (SELECT ceil(avg(length(decision))) FROM (SELECT decision FROM incidents ORDER BY created_at DESC LIMIT 1000) d),
      (SELECT ceil(avg(length(body))) FROM (SELECT body FROM incident_reports ORDER BY submitted_at DESC LIMIT 1000) b),
      (SELECT ceil(avg(length(data))) FROM (SELECT data FROM events ORDER BY seq DESC LIMIT 1000) e),
      (SELECT count(*) FROM entities)")
  read -r l_facts l_decision l_body l_data n_entities <<<"$lengths"
  for ordered in 0 1; do
    pgbench_run -M prepared -f "$kit/report_rows.sql" \
      -D entities="$n_entities" -D ordered="$ordered" -D lock_key=7956016877064774263 \
      -D facts="$l_facts" -D decision="$l_decision" -D body="$l_body" -D data="$l_data" "$url"
    line=$(printf '%.0f tps (machine CPU ms a transaction: %s)' "$bench_tps" "$bench_cpu")
    if [ "$ordered" = 1 ]; then bound_ordered=$line; else bound_free=$line; fi
  done
  psql -q -v ON_ERROR_STOP=1 "$url" <<'SQL'
BEGIN;
-- Only the rows written above go, children first; without the foreign-key triggers, whose
-- check of each deleted event would scan event_recipients (indexed by organisation first).
SET LOCAL session_replication_role = replica;
CREATE TEMP TABLE bound_incidents AS SELECT id FROM incidents WHERE reference LIKE 'BOUND-%';
DELETE FROM incident_deadlines WHERE incident_id IN (SELECT id FROM bound_incidents);
DELETE FROM incident_recipients WHERE incident_id IN (SELECT id FROM bound_incidents);
DELETE FROM incident_decisions WHERE incident_id IN (SELECT id FROM bound_incidents);
DELETE FROM incident_reports WHERE incident_id IN (SELECT id FROM bound_incidents);
DELETE FROM incidents WHERE id IN (SELECT id FROM bound_incidents);
DELETE FROM event_recipients WHERE seq >= 4000000000000000000;
DELETE FROM events WHERE seq >= 4000000000000000000;
DELETE FROM audit_log WHERE seq >= 4000000000000000000;
DROP TABLE load_bound_entities;
DROP SEQUENCE load_bound_seq;
COMMIT;
SQL
}

declare -A results cpu
rows=()
logged_error=0

one_backend() {
  local which=$1 url
  case $which in
    sqlite) url=$work/load.db ;;
    postgres)
      pg -c "DROP DATABASE IF EXISTS nis2hub_load" -c "CREATE DATABASE nis2hub_load"
      url=$pg_base/nis2hub_load ;;
    *) echo "unknown backend $which" >&2; exit 2 ;;
  esac
  export DATABASE_URL=$url NIS2HUB_JWT_SECRET_FILE=$work/jwt-secret NIS2HUB_LISTEN=127.0.0.1:$port
  "$bin" import-directory --init examples/directory.json >/dev/null
  local seed_out
  seed_out=$(RUST_LOG=warn "$bin" seed --entities "$entities" --incidents "$incidents" --history-days "$history_days" --ids-out "$work/ids")
  echo "$which: $seed_out"
  # VACUUM ANALYZE for the plans, CHECKPOINT so that writing the seed's pages back to disk
  # does not fall into the mixes.
  if [ "$which" = postgres ]; then psql -q "$url" -c "VACUUM ANALYZE" -c "CHECKPOINT"; fi
  RUST_LOG=warn "$bin" serve > "$work/server-$which.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server-$which.log"; exit 1; }
  token=$("$bin" token --org ncsirt --role national_csirt)
  local feed_max=${seed_out##* }

  # Awareness by sector and by week: the default period (the 28 days before now), and the
  # longest period the API allows, 366 days (the default maximum) up to now, which holds a
  # third of the seeded history at the default --history-days (three years). Before the
  # write mix, so that they count the seeded register only, not the incidents the write mix
  # adds in the last hours.
  local year_from year_to
  year_to=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  year_from=$(date -u -d "$year_to 366 days ago" +%Y-%m-%dT%H:%M:%SZ)
  local year="from=$year_from&to=$year_to"
  run_wrk "$which-awareness" read.lua \
    PATHS="/api/v1/awareness?group_by=sector,/api/v1/awareness?group_by=week"
  run_wrk "$which-awareness-year" read.lua \
    PATHS="/api/v1/awareness?group_by=sector&$year,/api/v1/awareness?group_by=week&$year"
  run_wrk "$which-write" report.lua
  run_wrk "$which-feed" read.lua PATHS="/api/v1/feed?limit=50&after=" FEED_MAX="$feed_max"
  run_wrk "$which-incidents" read.lua PATHS="/api/v1/incidents?limit=50"
  run_wrk "$which-entities" read.lua PATHS="/api/v1/entities?limit=50"
  local rss_kb hwm_kb
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")
  hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=
  if grep -q ' ERROR nis2hub' "$work/server-$which.log"; then
    grep ' ERROR nis2hub' "$work/server-$which.log" | head -n 5 >&2
    echo "$which: the service logged an error under load" >&2
    logged_error=1
  fi
  local tps="" floor_tps="" floor_cpu="" bound_free="" bound_ordered=""
  if [ "$which" = postgres ]; then bound "$url"; floor; tps=$floor_tps; fi
  rows+=("$which|$rss_kb|$hwm_kb|$tps|$floor_cpu|$bound_free|$bound_ordered")
  unset DATABASE_URL NIS2HUB_JWT_SECRET_FILE NIS2HUB_LISTEN
}

case $backend in
  both) one_backend sqlite; one_backend postgres ;;
  *) one_backend "$backend" ;;
esac

printf '\n%s incidents over %s days, %s entities, %s clients, %s s a run, %s\n\n' "$incidents" "$history_days" "$entities" "$clients" "$duration" "$(date -u +%FT%TZ)"
echo '| backend | mix | req/s | p50 ms | p99 ms | p99/p50 | timeouts | errors+non-2xx | vs floor | RSS MB (peak) | CPU ms a request: service / PostgreSQL / machine |'
echo '|---|---|---|---|---|---|---|---|---|---|---|'
status=0
floor_line=""
for row in "${rows[@]}"; do
  IFS='|' read -r which rss_kb hwm_kb tps floor_cpu bound_free bound_ordered <<<"$row"
  if [ -n "$tps" ]; then
    floor_line=$(printf 'pgbench floor: %.0f tps, machine CPU ms a transaction (pgbench included): %s' "$tps" "$floor_cpu")
    floor_line+=$(printf '\nthe rows of one report, one statement, PostgreSQL alone (report_rows.sql): unordered %s (%s of the floor); in commit order %s (%s of the floor)' \
      "$bound_free" "$(share "${bound_free%% *}" "$tps")" "$bound_ordered" "$(share "${bound_ordered%% *}" "$tps")")
  fi
  for mix in write feed incidents entities awareness awareness-year; do
    line=${results[$which-$mix]}
    rps=$(field rps "$line") p50=$(field p50_ms "$line") p99=$(field p99_ms "$line")
    timeouts=$(field timeouts "$line")
    bad=$(( $(field errors "$line") + $(field non2xx "$line") ))
    ratio=$(awk -v a="$p99" -v b="$p50" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }')
    vs="-" mem="-"
    if [ "$mix" = write ] && [ -n "$tps" ]; then
      vs="$(share "$rps" "$tps") of $(printf '%.0f' "$tps") tps"
    fi
    if [ "$mix" = write ]; then mem=$(awk -v r="$rss_kb" -v h="$hwm_kb" 'BEGIN { printf "%.0f (%.0f)", r / 1024, h / 1024 }'); fi
    echo "| $which | $mix | $rps | $p50 | $p99 | $ratio | $timeouts | $bad | $vs | $mem | ${cpu[$which-$mix]} |"
    [ "$bad" = 0 ] || status=1
  done
done
if [ -n "$floor_line" ]; then printf '\n%s\n' "$floor_line"; fi
if [ "$status" != 0 ]; then echo "some requests failed (see the errors column)" >&2; fi
if [ "$logged_error" != 0 ]; then status=1; fi
exit $status
