#!/usr/bin/env bash
# The load benchmark (issue 9, BENCHMARKS.md): SafeGrid (release) on PostgreSQL + Redis driven
# over loopback by oha, side by side with pgbench ceilings measured in the same run.
#
#   bash benches/load.sh            # full run (~3 min + build): appends a table to BENCHMARKS.md
#   bash benches/load.sh --smoke    # a few seconds on tiny data, debug build: checks the pipeline
#
# Phases: submit (POST /reports), queue (a worker's 40 tasks) and unit_queue (a partner unit
# staff member's 40 assignments, GET /unit/tasks), reported side by side; check-in batches; the
# realistic mix (submissions over many grids, categories and reporters). Issue 21: the
# yardstick in benches/baseline/ (actix-web + tokio-postgres, the same JWT check and exactly
# SafeGrid's SQL, nothing else) is built and driven in the same run, alternating with SafeGrid
# in two rounds, and every closed-loop phase records the CPU time the server process and
# PostgreSQL's processes spent per request (utime+stime from /proc/PID/stat over the phase).
# The smoke mode skips the yardstick (its release build takes minutes on CI's 2 cores; say
# BASELINE=1 to include it) and drives the mix with benches/loadgen.py --mix.
# Needs PostgreSQL (with pgbench) and Redis on 127.0.0.1, as .ci/run sets up. Creates and drops
# its own database (safegrid_bench / safegrid_bench_smoke), never a t_* test database. Installs
# oha with `cargo install oha` when missing (full mode); the smoke mode falls back to a small
# stdlib-Python driver when oha is absent, so CI does not compile oha.
#
# Environment: PG_URL (postgres://postgres@127.0.0.1:5432), REDIS_URL (redis://127.0.0.1:6379/),
# BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_PORT (18080), BENCH_GRIDS, BENCH_REPORTS,
# WARMUP_SECONDS (3 per path and program before the phases; 0 in smoke mode).
# PERF=1 also samples the whole machine with `perf record -a` during each closed-loop phase and
# writes, per phase, the CPU split by process and SafeGrid's hottest symbols to target/perf/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# The command as run, with the environment that changes what it measures.
ENVSET=
for v in SAFEGRID_BIN SAFEGRID_JOBS WARMUP_SECONDS PERF MALLOC_ARENA_MAX BENCH_GRIDS BENCH_REPORTS BENCH_SECONDS BENCH_CONNECTIONS BASELINE; do
  [ -n "${!v:-}" ] && ENVSET+="$v=${!v} "
done
COMMAND=$(echo "${ENVSET}bash benches/load.sh $*" | sed "s/ *$//")
# The load average before anything here starts (the report also prints the one at the end).
export LOAD_AT_START=$(cut -d" " -f1-3 /proc/loadavg 2>/dev/null || echo "? ? ?")

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
PORT=${BENCH_PORT:-18080}
CONNS=${BENCH_CONNECTIONS:-64}
if [ $SMOKE = 1 ]; then
  DB=safegrid_bench_smoke
  SECS=${BENCH_SECONDS:-2}
  GRIDS=${BENCH_GRIDS:-100}
  REPORTS=${BENCH_REPORTS:-2000}
  WISHES=200
  CONNS=${BENCH_CONNECTIONS:-8}
  PROFILE=debug
else
  DB=safegrid_bench
  SECS=${BENCH_SECONDS:-10}
  GRIDS=${BENCH_GRIDS:-10000}
  REPORTS=${BENCH_REPORTS:-200000}
  WISHES=20000
  PROFILE=release
fi
OUT=$(mktemp -d /tmp/safegrid-load.XXXXXX)
BASE="http://127.0.0.1:$PORT"
SERVER_PID=
# The yardstick (benches/baseline): on in full mode, off in smoke mode unless BASELINE=1.
BASELINE=${BASELINE:-$((1 - SMOKE))}
BASELINE_PORT=$((PORT + 1))
BASELINE_PID=

say() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)" >&2; }
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$BASELINE_PID" ]; then kill "$BASELINE_PID" 2>/dev/null || true; wait "$BASELINE_PID" 2>/dev/null || true; fi
  psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "bench:$$:*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
}
trap cleanup EXIT

# SAFEGRID_BIN runs a binary built elsewhere (a baseline from another commit) instead.
if [ -n "${SAFEGRID_BIN:-}" ]; then
  BIN=$SAFEGRID_BIN
else
  say "build ($PROFILE)"
  if [ $PROFILE = release ]; then
    cargo build --release --bin safegrid
  else
    cargo build --bin safegrid
  fi
  BIN=$ROOT/target/$PROFILE/safegrid
fi

# The yardstick and the mix driver, in their own workspace and target directory (never the
# root Cargo.lock). Release like SafeGrid; in smoke mode (BASELINE=1) debug, like SafeGrid.
MIX=
if [ "$BASELINE" = 1 ]; then
  say "build the yardstick (benches/baseline, $PROFILE)"
  if [ $PROFILE = release ]; then
    cargo build --release --manifest-path benches/baseline/Cargo.toml --target-dir target/baseline
  else
    cargo build --manifest-path benches/baseline/Cargo.toml --target-dir target/baseline
  fi
  BASELINE_BIN=$ROOT/target/baseline/$PROFILE/safegrid-baseline
  MIX=$ROOT/target/baseline/$PROFILE/mix
else
  say "smoke mode: the yardstick is skipped (BASELINE=1 builds and drives it)"
fi

# The load generator: oha (installed in full mode), or the stdlib driver in smoke mode.
if command -v oha >/dev/null || [ -x "$HOME/.cargo/bin/oha" ]; then
  OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
elif [ $SMOKE = 0 ]; then
  say "installing oha (cargo install oha)"
  cargo install oha --locked
  OHA=$HOME/.cargo/bin/oha
else
  OHA=
fi

say "database $DB"
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB" >/dev/null
# Without TLS, like the yardstick (tokio-postgres NoTls): sqlx's default sslmode=prefer
# encrypts loopback connections when the server offers TLS (Debian's does), which is a
# deployment choice, not a layer of ours (measured: ~0.01 ms per submission in each process).
export SAFEGRID_DATABASE_URL="$PG_URL/$DB?sslmode=disable"
export SAFEGRID_REDIS_URL="$REDIS_URL"
export SAFEGRID_REDIS_PREFIX="bench:$$:"
export SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789
export SAFEGRID_BIND=127.0.0.1:$PORT
# Warnings, and the upkeep's slow recounts (with their times, to set beside the phases'):
# the server's log is kept as target/load-server.log.
export SAFEGRID_LOG=${SAFEGRID_LOG:-warn,safegrid::dashboard::rollup=debug}
export SAFEGRID_UPLOAD_DIR=$OUT/uploads

say "bench data: $GRIDS grids, $REPORTS reports"
T0=$(date +%s.%N)
"$BIN" bench-data --grids "$GRIDS" --reports "$REPORTS" --wishes "$WISHES" --tokens "$OUT/tokens.json"
echo "$(date +%s.%N) - $T0" | bc >"$OUT/benchdata.secs" 2>/dev/null ||
  python3 -c "print(round($(date +%s.%N) - $T0, 1))" >"$OUT/benchdata.secs"
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
t = json.load(open(f"{out}/tokens.json"))
# "unit": the benchmark unit's staff member (absent from a SAFEGRID_BIN built before units).
for k in ("resident", "worker", "unit"):
    if k in t:
        open(f"{out}/{k}.token", "w").write(t[k])
json.dump(t["report"], open(f"{out}/report.json", "w"), ensure_ascii=False)
EOF

# Steady state, as pgbench measures it: the bulk load's autovacuum and checkpoint would
# otherwise run during the first phases and land in their tail latencies.
say "vacuum analyze + checkpoint after the bulk load"
psql "$SAFEGRID_DATABASE_URL" -qc "VACUUM ANALYZE" >/dev/null
psql "$PG_URL/postgres" -qc "CHECKPOINT" >/dev/null
# No autovacuum (nor its ANALYZE) during the phases: each phase VACUUMs first (drive()).
psql "$SAFEGRID_DATABASE_URL" -qc "ALTER TABLE reports SET (autovacuum_enabled = false)" >/dev/null

say "server"
"$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$BASE/readyz" >/dev/null

RESIDENT=$(cat "$OUT/resident.token")
WORKER=$(cat "$OUT/worker.token")
UNIT=$(cat "$OUT/unit.token" 2>/dev/null || true)
# Sanity: one submission goes through, the worker's queue has the 40 generated tasks, and the
# unit staff's queue its 40 generated assignments.
curl -fsS -X POST "$BASE/api/v1/reports" -H "Authorization: Bearer $RESIDENT" \
  -H 'Content-Type: application/json' --data-binary @"$OUT/report.json" >"$OUT/submit.json"
curl -fsS "$BASE/api/v1/worker/tasks?limit=100" -H "Authorization: Bearer $WORKER" >"$OUT/tasks.json"
python3 -c "
import json,sys
r=json.load(open('$OUT/submit.json')); assert r['status']=='submitted', r
t=json.load(open('$OUT/tasks.json')); n=len(t['items'])
assert n==40, f'worker queue has {n} tasks, expected 40'
print('sanity: submit ok, worker queue holds', n, 'tasks', file=sys.stderr)"
if [ -n "$UNIT" ]; then
  curl -fsS "$BASE/api/v1/unit/tasks?limit=100" -H "Authorization: Bearer $UNIT" >"$OUT/unit_tasks.json"
  python3 -c "
import json,sys
t=json.load(open('$OUT/unit_tasks.json')); n=len(t['items'])
assert n==40, f'unit queue has {n} tasks, expected 40'
print('sanity: unit queue holds', n, 'assignments', file=sys.stderr)"
else
  say "no unit token (a SAFEGRID_BIN from before partner units): skipping the unit_queue phase"
fi

# The yardstick, on the same database: the grid of the benchmark's submission (from the
# sanity answer) stands in for SafeGrid's routing index.
if [ "$BASELINE" = 1 ]; then
  GRID_CODE=$(python3 -c "import json;print(json.load(open('$OUT/submit.json'))['grid']['code'])")
  read -r GRID_PATH GRID_PARENT < <(psql "$SAFEGRID_DATABASE_URL" -Atc \
    "SELECT path || ' ' || parent_code FROM areas WHERE code = '$GRID_CODE'")
  say "yardstick on :$BASELINE_PORT (grid $GRID_CODE)"
  BASELINE_DATABASE_URL="$SAFEGRID_DATABASE_URL" BASELINE_BIND=127.0.0.1:$BASELINE_PORT \
    BASELINE_JWT_SECRET="$SAFEGRID_JWT_SECRET" BASELINE_GRID="$GRID_CODE" \
    BASELINE_GRID_PATH="$GRID_PATH" BASELINE_GRID_PARENT="$GRID_PARENT" \
    "$BASELINE_BIN" >"$OUT/baseline.log" 2>&1 &
  BASELINE_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$BASELINE_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$BASELINE_PID" 2>/dev/null || { cat "$OUT/baseline.log" >&2; exit 1; }
    sleep 0.2
  done
  curl -fsS -X POST "http://127.0.0.1:$BASELINE_PORT/api/v1/reports" -H "Authorization: Bearer $RESIDENT" \
    -H 'Content-Type: application/json' --data-binary @"$OUT/report.json" >/dev/null
  curl -fsS "http://127.0.0.1:$BASELINE_PORT/api/v1/worker/tasks?limit=100" -H "Authorization: Bearer $WORKER" >"$OUT/base_tasks.json"
  python3 -c "
import json,sys
n=len(json.load(open('$OUT/base_tasks.json'))['items'])
assert n==40, f'yardstick queue has {n} tasks, expected 40'
print('sanity: yardstick submit ok, queue holds', n, 'tasks', file=sys.stderr)"
fi

# The worker's patrol for the check-in phase: a batch of 20 points in the worker's grid (the
# location of the submission body), timed now. The same batch each time: after the first,
# every point is already there, so each request is the upsert of 20 rows skipped by their
# client_id, the recount and the counters update (what a retried batch costs).
PATROL=
if [ -n "$UNIT" ]; then
  GRID=$(python3 -c "import json;print(json.load(open('$OUT/tasks.json'))['items'][0]['grid']['code'])")
  if curl -fsS -X POST "$BASE/api/v1/patrols" -H "Authorization: Bearer $WORKER" \
      -H 'Content-Type: application/json' --data "{\"grid_code\":\"$GRID\"}" >"$OUT/patrol.json" 2>/dev/null; then
    PATROL=$(python3 -c "import json;print(json.load(open('$OUT/patrol.json'))['id'])")
    python3 benches/checkin_body.py "$OUT"
  fi
fi
[ -z "$PATROL" ] && say "no patrols in this binary: skipping the checkin phase"

# CPU time (utime + stime, in clock ticks) of a process, and of all PostgreSQL processes.
TICK=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() {
  local p s=0 t
  for p in $(pgrep -x postgres); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + t))
  done
  echo "$s"
}

# drive NAME METHOD PATH TOKEN [BODYFILE]: throughput at $CONNS connections, then an open-loop
# run at half that rate (oha -q with --latency-correction: coordinated-omission-safe).
# TARGET=baseline drives the yardstick instead; HALF=0 skips the open-loop run; MIXFILE=…
# sends the mix's varied bodies and tokens (TOKEN and BODYFILE unused). The closed-loop run
# writes NAME.cpu.json: requests answered, CPU ms of the server and of PostgreSQL.
drive() {
  local name=$1 method=$2 path=$3 token=$4 body=${5:-}
  local base=$BASE pid=$SERVER_PID
  if [ "${TARGET:-safegrid}" = baseline ]; then base="http://127.0.0.1:$BASELINE_PORT"; pid=$BASELINE_PID; fi
  local args=(-m "$method" -H "Authorization: Bearer $token" --no-tui --output-format json)
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -D "$body")
  # Every closed-loop phase starts vacuumed and checkpointed, and the planner's statistics
  # stay those of the bulk data (autovacuum is off for the run, see below): the worst-case
  # phases put tens of thousands of reports on one point, and an ANALYZE that saw them made
  # the duplicate-nearby SELECT's custom plan a sequential scan (12.6 ms instead of 0.2 ms:
  # LIMIT 10 with a third of the table "matching", the matches all at its end). Which phase
  # got that plan was chance, for SafeGrid and the yardstick alike (BENCHMARKS.md).
  psql "$SAFEGRID_DATABASE_URL" -qc "VACUUM" >/dev/null
  psql "$PG_URL/postgres" -qc "CHECKPOINT" >/dev/null
  say "$name: closed loop, $CONNS connections, ${SECS}s"
  local perf_pid=
  if [ "${PERF:-0}" = 1 ]; then
    mkdir -p "$ROOT/target/perf"
    perf record -a -F 499 -o "$ROOT/target/perf/$name.data" -- sleep "$SECS" 2>/dev/null &
    perf_pid=$!
  fi
  local c0 p0
  c0=$(cpu_of "$pid"); p0=$(pg_cpu)
  load "$name.max" "$method" "$base$path" "$token" "$body" "${args[@]}"
  python3 -c "
import json, sys
d = json.load(open('$OUT/$name.max.json'))
n = sum((d.get('statusCodeDistribution') or {}).values())
ms = lambda a, b: (b - a) / $TICK * 1000.0
print(json.dumps({'requests': n, 'server_ms': ms($c0, $(cpu_of "$pid")), 'pg_ms': ms($p0, $(pg_cpu))}))" >"$OUT/$name.cpu.json"
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    perf report -i "$ROOT/target/perf/$name.data" --stdio --sort comm --percent-limit 1 2>/dev/null \
      | grep -v '^#' | grep -v '^$' >"$ROOT/target/perf/$name.by-process.txt" || true
    perf report -i "$ROOT/target/perf/$name.data" --stdio --pid "$pid" --sort dso,symbol --percent-limit 0.5 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -60 >"$ROOT/target/perf/$name.server.txt" || true
    say "$name: perf — CPU by process (target/perf/$name.by-process.txt)"
    head -12 "$ROOT/target/perf/$name.by-process.txt" >&2
  fi
  [ "${HALF:-1}" = 1 ] || return 0
  local rate
  rate=$(python3 -c "import json;print(max(1,int(json.load(open('$OUT/$name.max.json'))['summary']['requestsPerSec']/2)))")
  say "$name: open loop at $rate req/s, ${SECS}s"
  load "$name.half" "$method" "$base$path" "$token" "$body" "${args[@]}" -q "$rate" --latency-correction
}

# load OUTNAME METHOD URL TOKEN BODY OHA-ARGS… [-q RATE --latency-correction]: one timed run
# with whichever driver fits: for MIXFILE the mix driver (or loadgen.py --mix without the
# yardstick's build), else oha, else loadgen.py.
load() {
  local out=$1 method=$2 url=$3 token=$4 body=$5
  shift 5
  local oha_args=("$@") rate= i
  for ((i = 0; i < ${#oha_args[@]}; i++)); do
    [ "${oha_args[$i]}" = -q ] && rate=${oha_args[$((i + 1))]}
  done
  if [ -n "${MIXFILE:-}" ]; then
    if [ -n "$MIX" ]; then
      "$MIX" "$url" "$MIXFILE" -c "$CONNS" -s "$SECS" ${rate:+-q "$rate"} >"$OUT/$out.json"
    else
      python3 benches/loadgen.py --mix "$MIXFILE" -c "$CONNS" -s "$SECS" ${rate:+-q "$rate"} "$url" >"$OUT/$out.json"
    fi
  elif [ -n "$OHA" ]; then
    "$OHA" "${oha_args[@]}" -c "$CONNS" -z "${SECS}s" "$url" >"$OUT/$out.json"
  else
    python3 benches/loadgen.py -m "$method" -t "$token" ${body:+-b "$body"} -c "$CONNS" -s "$SECS" ${rate:+-q "$rate"} "$url" >"$OUT/$out.json"
  fi
}
# Steady state for the programs too: SafeGrid's start-up catch-up (auto-close and overdue
# marking over the bulk data, the relay publishing their events) runs in its first seconds,
# and each program's first seconds under load open its connections and prepare its
# statements. The first submission phase used to pay for all of that (BENCHMARKS.md, 18:03
# run: round 1 at 0.48 + 0.87 ms of CPU per submission, round 2 at 0.42 + 0.71). So: wait
# until SafeGrid and PostgreSQL are idle, then warm each program up with a short closed-loop
# run of each path that is not reported (WARMUP_SECONDS: 3, smoke 0; 0 skips it).
# The window is longer than the jobs' interval (5 s): the overdue catch-up over the bulk data
# works in batches of 1,000 per pass, idle in between (the 18:15 run settled in such a gap).
settle() {
  local i c0 p0 used window=6
  for i in $(seq 1 20); do
    c0=$(cpu_of "$SERVER_PID"); p0=$(pg_cpu)
    sleep $window
    used=$(($(cpu_of "$SERVER_PID") - c0 + $(pg_cpu) - p0))
    # Under 5 % of one core over the window.
    if [ $((used * 100)) -lt $((TICK * window * 5)) ]; then
      say "settled: SafeGrid and PostgreSQL idle after $((i * window))s"
      return 0
    fi
  done
  say "SafeGrid or PostgreSQL still busy after $((20 * window)) s; measuring anyway"
}
settle
WARMUP=${WARMUP_SECONDS:-$((3 * (1 - SMOKE)))}
if [ "$WARMUP" != 0 ]; then
  say "warm-up: ${WARMUP}s of each path per program (not reported)"
  warm_args=(--no-tui --output-format json)
  for base in "$BASE" ${BASELINE_PID:+"http://127.0.0.1:$BASELINE_PORT"}; do
    SECS=$WARMUP load warmup POST "$base/api/v1/reports" "$RESIDENT" "$OUT/report.json" \
      -m POST -H "Authorization: Bearer $RESIDENT" -H 'Content-Type: application/json' -D "$OUT/report.json" "${warm_args[@]}"
    SECS=$WARMUP load warmup GET "$base/api/v1/worker/tasks?limit=100" "$WORKER" "" \
      -m GET -H "Authorization: Bearer $WORKER" "${warm_args[@]}"
  done
  settle
fi

# SafeGrid and the yardstick alternate, two rounds (the order flips in the second): the same
# body into the same grid, the same worker's 40 tasks. Only SafeGrid's first round also runs
# open loop at half its rate (the latency targets).
drive submit POST /api/v1/reports "$RESIDENT" "$OUT/report.json"
if [ "$BASELINE" = 1 ]; then
  TARGET=baseline HALF=0 drive base_submit POST /api/v1/reports "$RESIDENT" "$OUT/report.json"
fi
drive queue GET "/api/v1/worker/tasks?limit=100" "$WORKER"
if [ "$BASELINE" = 1 ]; then
  TARGET=baseline HALF=0 drive base_queue GET "/api/v1/worker/tasks?limit=100" "$WORKER"
  TARGET=baseline HALF=0 drive base_submit2 POST /api/v1/reports "$RESIDENT" "$OUT/report.json"
  HALF=0 drive submit2 POST /api/v1/reports "$RESIDENT" "$OUT/report.json"
  TARGET=baseline HALF=0 drive base_queue2 GET "/api/v1/worker/tasks?limit=100" "$WORKER"
  HALF=0 drive queue2 GET "/api/v1/worker/tasks?limit=100" "$WORKER"
fi
# The unit staff's queue (40 assignments), in the same run as the worker's for comparison.
if [ -n "$UNIT" ]; then
  drive unit_queue GET "/api/v1/unit/tasks?limit=100" "$UNIT"
fi
# Patrol check-ins, 20 points a batch (issue 17: 1,000 workers x 20 points / 5 min = ~70 batches/s).
if [ -n "$PATROL" ]; then
  drive checkin POST "/api/v1/patrols/$PATROL/checkins" "$WORKER" "$OUT/checkins.json"
fi
# The realistic mix: 1,000 submissions over random grids, every category and 200 reporters
# (bench-data's `mix`), beside the same-body worst case above.
if python3 -c "import json,sys;sys.exit(0 if json.load(open('$OUT/tokens.json')).get('mix') else 1)"; then
  python3 -c "import json;json.dump(json.load(open('$OUT/tokens.json'))['mix'],open('$OUT/mix.json','w'),ensure_ascii=False)"
  MIXFILE=$OUT/mix.json drive mix POST /api/v1/reports "" ""
else
  say "no mix in this binary's bench data: skipping the mix phase"
fi
ps -o rss= -p "$SERVER_PID" | tr -d ' ' >"$OUT/rss.kb"
# The yardstick's pool would otherwise hold 16 of PostgreSQL's connections during pgbench.
if [ -n "$BASELINE_PID" ]; then kill "$BASELINE_PID"; wait "$BASELINE_PID" 2>/dev/null || true; BASELINE_PID=; fi

# The ceilings: pgbench at the same concurrency on the same database, same moment.
say "pgbench ceilings"
psql "$SAFEGRID_DATABASE_URL" -qc "CREATE TABLE pgb_reports (LIKE reports INCLUDING ALL)" >/dev/null
cat >"$OUT/insert.sql" <<'EOF'
INSERT INTO pgb_reports (id, reporter_id, category, description, lat, lng, coord_input, address, anonymous, urgency, status, grid_code, queue_code, queue_path, submitted_at, rework_count, flagged, overdue_notified, version, updated_at)
VALUES (gen_random_uuid()::text, '01a23f84-2a2d-727b-81e7-c5e7269d6de0', 'sanitation', '楼道堆放杂物，影响消防通道，请尽快清理。', 31.2 + random() / 100, 121.4 + random() / 100, 'gcj02', '基准路1号', false, 'normal', 'submitted', 'G000001', 'G000001', '/BD/BS000/BC0000/G000001/', (extract(epoch from now()) * 1000)::bigint, 0, false, false, 0, (extract(epoch from now()) * 1000)::bigint);
EOF
MAXTL=$(psql "$SAFEGRID_DATABASE_URL" -Atc "SELECT max(id) FROM timeline_events")
cat >"$OUT/select.sql" <<EOF
\set n random(1, $MAXTL)
SELECT * FROM timeline_events WHERE id = :n;
EOF
# The check-in ceiling: one multi-row INSERT of 20 points per transaction.
psql "$SAFEGRID_DATABASE_URL" -qc "CREATE TABLE pgb_checkins (patrol_id varchar(36), client_id varchar(64), lat double precision, lng double precision, at bigint, outside boolean, received_at bigint, PRIMARY KEY (patrol_id, client_id))" >/dev/null
python3 benches/checkin_body.py "$OUT" --pgbench
PGJ=$(( CONNS < 2 ? CONNS : 2 ))
pgbench -n -M prepared -c "$CONNS" -j "$PGJ" -T "$SECS" -f "$OUT/insert.sql" "$SAFEGRID_DATABASE_URL" >"$OUT/pgbench.insert.txt" 2>&1
pgbench -n -M prepared -c "$CONNS" -j "$PGJ" -T "$SECS" -f "$OUT/select.sql" "$SAFEGRID_DATABASE_URL" >"$OUT/pgbench.select.txt" 2>&1
pgbench -n -M prepared -c "$CONNS" -j "$PGJ" -T "$SECS" -f "$OUT/checkins.sql" "$SAFEGRID_DATABASE_URL" >"$OUT/pgbench.checkins.txt" 2>&1

kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

say "results"
REPORT_ARGS=("$OUT" --command "$COMMAND" --grids "$GRIDS" --reports "$REPORTS" --connections "$CONNS" --seconds "$SECS")
if [ $SMOKE = 1 ]; then
  python3 benches/load_report.py "${REPORT_ARGS[@]}" --check
else
  python3 benches/load_report.py "${REPORT_ARGS[@]}" --append BENCHMARKS.md
fi
mkdir -p target && cp "$OUT/server.log" target/load-server.log
rm -rf "$OUT"
