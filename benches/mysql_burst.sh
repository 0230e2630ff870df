#!/usr/bin/env bash
# A burst into one hot dashboard rollup row on MySQL/MariaDB (issue 21): every submission of the
# same body lands in the same grid, category and Shanghai day, so each marks the same
# `dashboard_rollups` row stale. SafeGrid on MariaDB + Redis, oha at 64 connections, closed
# loop then open loop at half that rate, for each binary given, alternating, ROUNDS times.
#
#   bash benches/mysql_burst.sh BIN [BIN2 …]      # e.g. /tmp/safegrid-before target/release/safegrid
#
# Environment: MYSQL_URL (mysql://root@127.0.0.1:3306), REDIS_URL, BENCH_SECONDS (10),
# BENCH_CONNECTIONS (64), ROUNDS (2). Creates and drops the database safegrid_burst.
set -euo pipefail
cd "$(dirname "$0")/.."
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
PORT=18097
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
OUT=$(mktemp -d /tmp/safegrid-burst.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS safegrid_burst" 2>/dev/null || true' EXIT
export SAFEGRID_DATABASE_URL=$MYSQL_URL/safegrid_burst SAFEGRID_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
export SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789 SAFEGRID_LOG=warn
export SAFEGRID_BIND=127.0.0.1:$PORT SAFEGRID_UPLOAD_DIR=$OUT/uploads
echo "| binary | round | submissions/s at $CONNS conns | open loop | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for BIN in "$@"; do
    export SAFEGRID_REDIS_PREFIX="burst:$$:$round:"
    mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS safegrid_burst; CREATE DATABASE safegrid_burst" 
    "$BIN" bench-data --grids 100 --reports 2000 --wishes 100 --tokens "$OUT/tokens.json" >/dev/null
    python3 -c "import json;t=json.load(open('$OUT/tokens.json'));open('$OUT/r','w').write(t['resident']);json.dump(t['report'],open('$OUT/report.json','w'),ensure_ascii=False)"
    "$BIN" serve >"$OUT/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
    args=(--no-tui --output-format json -m POST -H "Authorization: Bearer $(cat "$OUT/r")" -H 'Content-Type: application/json' -D "$OUT/report.json")
    "$OHA" "${args[@]}" -c "$CONNS" -z "${SECS}s" "http://127.0.0.1:$PORT/api/v1/reports" >"$OUT/max.json"
    rate=$(python3 -c "import json;print(max(1,int(json.load(open('$OUT/max.json'))['summary']['requestsPerSec']/2)))")
    "$OHA" "${args[@]}" -c "$CONNS" -q "$rate" --latency-correction -z "${SECS}s" "http://127.0.0.1:$PORT/api/v1/reports" >"$OUT/half.json"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    python3 - "$OUT" "$BIN" "$round" <<'PY'
import json, sys
out, binary, rnd = sys.argv[1:]
m, h = json.load(open(f"{out}/max.json")), json.load(open(f"{out}/half.json"))
bad = {c: n for d in (m, h) for c, n in (d.get("statusCodeDistribution") or {}).items() if not c.startswith("2")}
lat = h["latencyPercentiles"]
print(f"| `{binary}` | {rnd} | {m['summary']['requestsPerSec']:.0f} | {h['summary']['requestsPerSec']:.0f}/s "
      f"| {lat['p50'] * 1000:.1f} | {lat['p99'] * 1000:.1f} |" + (f" non-2xx: {bad}" if bad else ""))
PY
  done
done
rm -rf "$OUT"
