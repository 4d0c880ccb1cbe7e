#!/usr/bin/env bash
# The surge smoke: does push keep up with pull after a burst of reports? Starts the binary on a
# fresh database with the example directory and a few seeded entities, subscribes every
# organisation of the directory to a local receiver (surge_receiver.py) — one of them slow
# (3 s an answer) and one always failing (500) — sends a burst of early warnings with wrk
# (report.lua), and then checks (surge_check.py) that within WITHIN seconds of the burst's end
# every event in each healthy subscriber's feed arrived at its receiver, and nothing else did,
# and prints the webhook delays; and (surge_nothing_lost.py) that every report answered 201 is
# stored and every subscriber's events, the slow and failing ones' too, were delivered or are
# pending a retry. Beside the burst the four authorities page their feeds and the
# national CSIRT refreshes awareness every second (surge_readers.py), whose timings it prints.
# Exits 1 when push does not match pull in time, or a report failed.
#
#   benches/load/surge.sh [--backend sqlite|postgres] [--entities N] [--duration SECONDS]
#                         [--clients C]
#
# Small by default (seconds, the debug binary the tests built): CI runs it. Environment:
# WITHIN (10), PG_URL_BASE (postgres://postgres:postgres@127.0.0.1:5432), PORT (18206), BIN
# (a prebuilt binary), KEEP=1 (keep the work directory), NIS2HUB_* (passed to the service).
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$kit/../.." && pwd)
cd "$root"

backend=sqlite entities=50 duration=5 clients=8
while [ $# -gt 0 ]; do
  case $1 in
    --backend) backend=$2; shift 2 ;;
    --entities) entities=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
port=${PORT:-18206}
receiver_port=$((port + 1))
pg_base=${PG_URL_BASE:-postgres://postgres:postgres@127.0.0.1:5432}
within=${WITHIN:-10}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build -q
  bin=${CARGO_TARGET_DIR:-target}/debug/nis2hub
fi

work=$(mktemp -d)
server_pid= receiver_pid=
cleanup() {
  for pid in $server_pid $receiver_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

case $backend in
  sqlite) url=$work/surge.db ;;
  postgres)
    PGOPTIONS=--client-min-messages=warning psql -q -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "DROP DATABASE IF EXISTS nis2hub_surge" -c "CREATE DATABASE nis2hub_surge"
    url=$pg_base/nis2hub_surge ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac
export DATABASE_URL=$url NIS2HUB_JWT_SECRET_FILE=$work/jwt-secret NIS2HUB_LISTEN=127.0.0.1:$port
export NIS2HUB_WEBHOOK_ALLOW_HOSTS=127.0.0.1
"$bin" import-directory --init examples/directory.json >/dev/null
RUST_LOG=warn "$bin" seed --entities "$entities" --incidents 0 --ids-out "$work/ids" >/dev/null

: > "$work/received"
python3 "$kit/surge_receiver.py" "$receiver_port" "$work/received" 3 &
receiver_pid=$!
RUST_LOG=warn "$bin" serve > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

# Every organisation of the directory subscribes; authority-digital's receiver is slow and
# authority-health's always fails. The healthy ones are checked.
healthy=() authorities=() everyone=()
while read -r code kind; do
  token=$("$bin" token --org "$code" --role "$kind")
  [ "$kind" = supervisory_authority ] && authorities+=("$token")
  everyone+=("$code=$token")
  case $code in
    authority-digital) path=slow/$code ;;
    authority-health) path=failing/$code ;;
    *) path=hook/$code; healthy+=("$code=$token") ;;
  esac
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/api/v1/webhooks" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$receiver_port/$path\"}"
done < <(python3 -c 'import json; [print(o["code"], o["kind"]) for o in json.load(open("examples/directory.json"))["organisations"]]')

python3 "$kit/surge_check.py" "http://127.0.0.1:$port" --baseline "$work/baseline" "${everyone[@]}"

# The burst: entities reporting early warnings, with the national CSIRT's token.
token=$("$bin" token --org ncsirt --role national_csirt)
# Beside the burst: the authorities page their feeds, the national CSIRT refreshes awareness.
python3 "$kit/surge_readers.py" "http://127.0.0.1:$port" "$duration" "$token" "${authorities[@]}" \
  > "$work/readers" 2>&1 &
readers_pid=$!
line=$(env KIT="$kit" TOKEN="$token" IDS="$work/ids" ACKED="$work/acked" \
  wrk -t2 -c"$clients" -d"${duration}s" --timeout 5s -s "$kit/report.lua" "http://127.0.0.1:$port" \
  2>"$work/wrk.err" | grep '^RESULT' || true)
readers_status=0
wait "$readers_pid" || readers_status=$?
cat "$work/readers"
if [ -z "$line" ]; then echo "wrk gave no result:" >&2; cat "$work/wrk.err" >&2; exit 1; fi
echo "surge ($backend, $entities entities, $clients clients, ${duration} s): $line"
status=0
bad=$(( $(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line") + $(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line") ))
if [ "$bad" != 0 ]; then echo "surge: $bad reports failed" >&2; status=1; fi
if [ "$readers_status" != 0 ]; then echo "surge: a read beside the burst failed" >&2; status=1; fi
python3 "$kit/surge_check.py" "http://127.0.0.1:$port" "$work/received" "$within" "$work/baseline" "${healthy[@]}" || status=1
# Nothing acknowledged lost: every report answered 201 is stored, and every subscriber's
# events (the slow and failing receivers' too) were delivered or are pending a retry.
answered=$(( $(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line") - $(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line") ))
python3 "$kit/surge_nothing_lost.py" "http://127.0.0.1:$port" "$token" "$work/acked" "$answered" "$work/baseline" "${everyone[@]}" || status=1
if grep -q ' ERROR nis2hub' "$work/server.log"; then
  grep ' ERROR nis2hub' "$work/server.log" | head -n 5 >&2
  echo "surge: the service logged an error" >&2
  status=1
fi
exit $status
