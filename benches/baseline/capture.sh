#!/usr/bin/env bash
# Captures the SQL SafeGrid sends for one submission and one worker-queue page: a small bench
# database with `log_statement = all`, one request each, the statements cut out of
# PostgreSQL's log (/var/log/postgresql) into /tmp/capture/{submit,queue}.sql. Run from the
# repository root: bash benches/baseline/capture.sh [BIN]
set -euo pipefail
BIN=${1:-target/release/safegrid}
PG=postgres://postgres@127.0.0.1:5432
DB=perf_sql
OUT=/tmp/capture; rm -rf $OUT; mkdir -p $OUT
psql $PG/postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; psql $PG/postgres -qc "CREATE DATABASE $DB"
export SAFEGRID_DATABASE_URL=$PG/$DB SAFEGRID_REDIS_URL=redis://127.0.0.1:6379/ SAFEGRID_REDIS_PREFIX=cap: \
  SAFEGRID_JWT_SECRET=bench-secret-0123456789abcdef0123456789 SAFEGRID_BIND=127.0.0.1:18077 SAFEGRID_LOG=warn SAFEGRID_UPLOAD_DIR=$OUT/up
"$BIN" bench-data --grids 100 --reports 2000 --wishes 200 --tokens $OUT/tokens.json >/dev/null
psql $PG/postgres -qc "ALTER DATABASE $DB SET log_statement='all'"
"$BIN" serve >$OUT/server.log 2>&1 & PID=$!
trap 'kill $PID' EXIT
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18077/readyz >/dev/null 2>&1 && break; sleep 0.2; done
python3 -c "import json;t=json.load(open('$OUT/tokens.json'));open('$OUT/r','w').write(t['resident']);open('$OUT/w','w').write(t['worker']);json.dump(t['report'],open('$OUT/report.json','w'),ensure_ascii=False)"
sleep 1
L=/var/log/postgresql/postgresql-15-main.log
N0=$(wc -l <$L)
curl -fsS -X POST http://127.0.0.1:18077/api/v1/reports -H "Authorization: Bearer $(cat $OUT/r)" -H 'Content-Type: application/json' --data-binary @$OUT/report.json >$OUT/submit.out
sleep 0.5; N1=$(wc -l <$L)
curl -fsS "http://127.0.0.1:18077/api/v1/worker/tasks?limit=100" -H "Authorization: Bearer $(cat $OUT/w)" >$OUT/queue.out
sleep 0.5; N2=$(wc -l <$L)
sed -n "$((N0+1)),${N1}p" $L >$OUT/submit.sql
sed -n "$((N1+1)),${N2}p" $L >$OUT/queue.sql
psql $PG/postgres -qc "ALTER DATABASE $DB RESET log_statement"
wc -l $OUT/*.sql
