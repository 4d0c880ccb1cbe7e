#!/usr/bin/env bash
# Anonymous CSAF provider traffic against authenticated reads, on loopback, bounded in time.
#
#   benches/load/csaf.sh [--documents N] [--duration SECONDS] [--clients C] [--release]
#
# Starts the service (debug binary unless --release or BIN) on a fresh SQLite database,
# publishes N TLP:CLEAR advisories through the API, and measures the p99 of authenticated
# reads (GET /api/v1/advisories?limit=50, C connections):
#   alone;
#   beside C anonymous connections crawling the public tree from one address (the per-address
#     limit answers most of them with 429);
#   beside C anonymous connections each request from another IPv6 /64 (X-Forwarded-For from
#     a trusted proxy): the limit never applies, so this is the cost of serving the tree.
# The goal: anonymous traffic does not make the authenticated p99 more than 2x worse.
# Environment: PORT (18206), BIN (a prebuilt binary).
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$kit/../.." && pwd)
cd "$root"

documents=200 duration=10 clients=32 release=0
while [ $# -gt 0 ]; do
  case $1 in
    --documents) documents=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --release) release=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
port=${PORT:-18206}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BIN:-}" ]; then bin=$BIN
elif [ "$release" = 1 ]; then cargo build -q --release; bin=${CARGO_TARGET_DIR:-target}/release/nis2hub
else cargo build -q; bin=${CARGO_TARGET_DIR:-target}/debug/nis2hub
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL=$work/nis2hub.db NIS2HUB_LISTEN=127.0.0.1:$port \
  NIS2HUB_PUBLIC_URL=http://127.0.0.1:$port NIS2HUB_JWT_SECRET_FILE=$work/jwt-secret \
  NIS2HUB_OPENPGP_KEY_FILE=$work/openpgp.asc NIS2HUB_TRUSTED_PROXIES=127.0.0.1/32
"$bin" migrate --init >/dev/null
"$bin" import-directory examples/directory.json >/dev/null
token=$("$bin" token --org ncsirt --role national_csirt)
"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

api() { curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port/api/v1$2" ${3:+--data "$3"} || { echo "$1 $2 failed" >&2; exit 1; }; }
body='{"title":"Load %d","summary":"Example Gateway allows remote code execution.","audience":"national","tlp":"CLEAR","severity":"high","cves":["CVE-2026-12345"],"affected_products":[{"vendor":"Example","product":"Gateway","versions":["4.1"],"fixed_in":["4.3"]}],"references":[{"url":"https://vendor.example/security","summary":"Vendor bulletin"}]}'
doc=
for i in $(seq "$documents"); do
  id=$(api POST /advisories "$(printf "$body" "$i")" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
  doc=$(api POST "/advisories/$id/publish" '{}' | grep -o '"reference":"[^"]*"' | head -1 | cut -d'"' -f4)
done
year=$(date -u +%Y)
doc=/.well-known/csaf/white/$year/$(tr 'A-Z' 'a-z' <<<"$doc").json
paths="/.well-known/csaf/white/index.txt,/.well-known/csaf/white/changes.csv,/.well-known/csaf/feed-tlp-white.json,$doc,$doc.asc,/.well-known/csaf/provider-metadata.json"

authenticated() {
  wrk -t1 -c"$clients" -d"${duration}s" --timeout 5s -s "$kit/read.lua" "http://127.0.0.1:$port" \
    2>/dev/null | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p'
}
anonymous() {
  env PATHS="$paths" SPREAD="$1" wrk -t1 -c"$clients" -d"$((duration + 2))s" --timeout 5s \
    -s "$kit/csaf_anonymous.lua" "http://127.0.0.1:$port" 2>/dev/null | grep '^RESULT' || true
}
export TOKEN=$token KIT=$kit PATHS=/api/v1/advisories?limit=50
# read.lua reports through summary.lua; this script only needs its p99.
curl -sS --fail-with-body "http://127.0.0.1:$port$doc" >/dev/null || { echo "GET $doc failed" >&2; exit 1; }  # every revision stored before measuring
alone=$(authenticated)
anonymous 0 >"$work/anon-one" & a=$!; sleep 1; limited=$(authenticated); wait $a
anonymous 1 >"$work/anon-many" & a=$!; sleep 1; spread=$(authenticated); wait $a
printf 'documents=%s clients=%s duration=%ss\n' "$documents" "$clients" "$duration"
printf 'authenticated p99 alone:                          %s ms\n' "$alone"
printf 'beside anonymous traffic from one address:       %s ms  (anonymous: %s)\n' "$limited" "$(cat "$work/anon-one")"
printf 'beside anonymous traffic from many /64s:          %s ms  (anonymous: %s)\n' "$spread" "$(cat "$work/anon-many")"
awk -v a="$alone" -v l="$limited" -v s="$spread" 'BEGIN { printf "ratios: %.2fx (one address), %.2fx (many addresses); goal <= 2x\n", l / a, s / a }'
