#!/usr/bin/env bash
# Server memory with 10,000 grids: RSS when idle after start, right after 8 s of report
# submissions, and right after 8 s of worker-queue reads (oha, 64 connections each).
#
#   bash benches/rss.sh [BIN] [VAR=value ...]
#
# BIN defaults to target/release/safegrid (build it first); VAR=value pairs go into the
# server's environment (MALLOC_ARENA_MAX=2, _RJEM_MALLOC_CONF=…) to compare allocator settings
# on the same data. Needs PostgreSQL and Redis on 127.0.0.1 and oha (benches/load.sh installs
# it); the database safegrid_rss is created and filled on first use and kept for the next.
set -euo pipefail
cd "$(dirname "$0")/.."
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
