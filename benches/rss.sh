#!/usr/bin/env bash
# Server memory with 10,000 grids: RSS when idle after start, right after 8 s of report
# submissions, and right after 8 s of worker-queue reads (oha, 64 connections each).
#
#   bash benches/rss.sh [BIN] [VAR=value ...]
#   bash benches/rss.sh import [BIN] [AREAS]
#
# BIN defaults to target/release/safegrid (build it first); VAR=value pairs go into the
# server's environment (MALLOC_ARENA_MAX=2, _RJEM_MALLOC_CONF=…) to compare allocator settings
# on the same data. Needs PostgreSQL and Redis on 127.0.0.1 and oha (benches/load.sh installs
# it); the database safegrid_rss is created and filled on first use and kept for the next.
set -euo pipefail
cd "$(dirname "$0")/.."
# `import`: the peak RSS of `safegrid areas import` of a synthetic city (AREAS grids, 50,000 by
# default: 50,271 areas, ~56 MB) into a fresh PostgreSQL database, then the same file again
# into the filled database (every area updated), then a file with one bad feature (refused,
# nothing changed). GNU time's "Maximum resident set size" is the peak.
if [ "${1:-}" = import ]; then
  BIN=${2:-target/release/safegrid}
  AREAS=${3:-50000}
  PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
  FILE=target/city$AREAS.geojson
  [ -s "$FILE" ] || python3 benches/synth_geojson.py "$AREAS" >"$FILE"
  python3 - "$FILE" target/city-bad.geojson <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
# One bad feature near the end: a grid whose ring is not closed.
f = doc["features"][-2]
f["geometry"]["coordinates"][0] = f["geometry"]["coordinates"][0][:-1]
json.dump(doc, open(sys.argv[2], "w"))
print(f"bad feature: index {len(doc['features']) - 2}, code {f['properties']['code']}", file=sys.stderr)
EOF
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS safegrid_rss_import WITH (FORCE)" >/dev/null
  psql "$PG_URL/postgres" -qc "CREATE DATABASE safegrid_rss_import" >/dev/null
  export SAFEGRID_DATABASE_URL=$PG_URL/safegrid_rss_import SAFEGRID_LOG=warn
  export SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789
  run() {
    local what=$1 file=$2 rc=0
    /usr/bin/time -f '%M %e' -o target/rss-import.time "$BIN" areas import "$file" >target/rss-import.out 2>&1 || rc=$?
    read -r kb secs < <(tail -1 target/rss-import.time)
    echo "$what: peak RSS $((kb / 1024)) MB, $secs s, exit $rc — $(tail -1 target/rss-import.out)"
  }
  echo "file: $FILE ($(du -m "$FILE" | cut -f1) MB, $(python3 -c "import json;print(len(json.load(open('$FILE'))['features']))") features)"
  run "import into an empty database" "$FILE"
  run "the same file again (every area updated)" "$FILE"
  run "a file with one bad feature" target/city-bad.geojson
  echo "areas afterwards: $(psql "$SAFEGRID_DATABASE_URL" -Atc "SELECT count(*) FROM areas")"
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS safegrid_rss_import WITH (FORCE)" >/dev/null
  exit 0
fi
BIN=${1:-target/release/safegrid}; shift || true
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
TOKENS=target/rss-tokens.json
export SAFEGRID_DATABASE_URL=$PG_URL/safegrid_rss
export SAFEGRID_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/} SAFEGRID_REDIS_PREFIX=rss:
export SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789
export SAFEGRID_BIND=127.0.0.1:18099 SAFEGRID_LOG=warn SAFEGRID_UPLOAD_DIR=target/rss-uploads
if ! psql "$PG_URL/safegrid_rss" -qc "SELECT 1" >/dev/null 2>&1 || [ ! -f "$TOKENS" ]; then
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS safegrid_rss WITH (FORCE)" >/dev/null
  psql "$PG_URL/postgres" -qc "CREATE DATABASE safegrid_rss" >/dev/null
  "$BIN" bench-data --grids 10000 --reports 200000 --wishes 20000 --tokens "$TOKENS"
fi
env "$@" "$BIN" serve >target/rss-server.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18099/readyz >/dev/null 2>&1 && break; sleep 0.2; done
sleep 3
echo "idle: $(ps -o rss= -p $PID) KB"
field() { python3 -c "import json,sys;print(json.load(open('$TOKENS'))['$1'])"; }
python3 -c "import json;json.dump(json.load(open('$TOKENS'))['report'],open('target/rss-report.json','w'),ensure_ascii=False)"
"$OHA" --no-tui -c 64 -z 8s -m POST -H "Authorization: Bearer $(field resident)" -H 'Content-Type: application/json' \
  -D target/rss-report.json http://127.0.0.1:18099/api/v1/reports | grep -E "Requests/sec"
echo "after submissions: $(ps -o rss= -p $PID) KB"
"$OHA" --no-tui -c 64 -z 8s -H "Authorization: Bearer $(field worker)" "http://127.0.0.1:18099/api/v1/worker/tasks?limit=100" | grep -E "Requests/sec"
echo "after queue reads: $(ps -o rss= -p $PID) KB"
