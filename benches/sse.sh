#!/usr/bin/env bash
# SSE delivery benchmark (BENCHMARKS.md): two SafeGrid instances sharing PostgreSQL + Redis,
# CLIENTS (1,000) clients on GET /api/v1/worker/events split between them, EVENTS (100)
# reports submitted into the clients' grid; prints submit-to-receipt p50/p99 and fails unless
# every client got every event exactly once.
#
#   bash benches/sse.sh [release|debug]
#   SSE_CLIENT=rust RATE=200 EVENTS=1000 bash benches/sse.sh   (the compiled client, open loop)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${1:-release}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
CLIENTS=${CLIENTS:-1000}
GAP=${GAP:-0.05}   # seconds between submissions (0.05: at most 20 reports/s)
EVENTS=${EVENTS:-100}
DB=safegrid_bench_sse
OUT=$(mktemp -d /tmp/safegrid-sse.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "benchsse:$$:*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  rm -rf "$OUT"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -n "${SKIP_BUILD:-}" ] || if [ "$PROFILE" = release ]; then cargo build --release --bin safegrid; else cargo build --bin safegrid; fi
BIN=${SAFEGRID_BIN:-target/$PROFILE/safegrid}
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null
export SAFEGRID_DATABASE_URL="$PG_URL/$DB" SAFEGRID_REDIS_URL="$REDIS_URL" SAFEGRID_REDIS_PREFIX="benchsse:$$:"
export SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789 SAFEGRID_LOG=warn SAFEGRID_UPLOAD_DIR=$OUT/uploads
"$BIN" bench-data --grids 100 --reports 1000 --wishes 0 --queue-tasks 0 --tokens "$OUT/tokens.json" >/dev/null
python3 -c "
import json; t=json.load(open('$OUT/tokens.json'))
open('$OUT/worker','w').write(t['worker']); open('$OUT/resident','w').write(t['resident'])
json.dump(t['worker_grid_report'], open('$OUT/body.json','w'), ensure_ascii=False)"
for port in 18081 18082; do
  SAFEGRID_BIND=127.0.0.1:$port "$BIN" serve >"$OUT/server-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in 18081 18082; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
done
# Peak RSS of each instance while the clients are connected, sampled every 200 ms.
( peak1=0; peak2=0
  while sleep 0.2; do
    r1=$(awk '/VmRSS/ {print $2}' "/proc/${PIDS[0]}/status" 2>/dev/null || echo 0)
    r2=$(awk '/VmRSS/ {print $2}' "/proc/${PIDS[1]}/status" 2>/dev/null || echo 0)
    [ "${r1:-0}" -gt "$peak1" ] && peak1=$r1
    [ "${r2:-0}" -gt "$peak2" ] && peak2=$r2
    echo "$peak1 $peak2" > "$OUT/rss"
  done ) &
PIDS+=($!)
if [ "${SSE_CLIENT:-python}" = rust ]; then
  # The compiled client (benches/sse_load.rs): open-loop submissions at RATE per second.
  SSE_BASES=http://127.0.0.1:18081,http://127.0.0.1:18082 SSE_TOKEN="$(cat "$OUT/worker")" \
    SSE_RESIDENT="$(cat "$OUT/resident")" SSE_BODY="$OUT/body.json" SSE_CLIENTS="$CLIENTS" \
    SSE_EVENTS="$EVENTS" SSE_RATE="${RATE:-200}" cargo bench -q --bench sse_load
else
python3 benches/sse_clients.py --token "$(cat "$OUT/worker")" --resident "$(cat "$OUT/resident")" \
  --body "$OUT/body.json" --clients "$CLIENTS" --events "$EVENTS" --gap "${GAP:-0.05}" http://127.0.0.1:18081 http://127.0.0.1:18082
fi
read -r peak1 peak2 < "$OUT/rss"
echo "peak RSS while connected: instance 1 $((peak1 / 1024)) MB, instance 2 $((peak2 / 1024)) MB"
