#!/usr/bin/env bash
# Lock-safe DDL benchmark (never run by CI): the classic outage and zdm's cure, in one run.
#
# pgbench runs a select-only load (primary-key reads on bench_t) for DURATION seconds. One second in,
# a session (the holder) opens a transaction that reads bench_t (ACCESS SHARE). As soon as it holds
# its lock, a migration of 20 instant DDL statements (ALTER TABLE ... ADD COLUMN, nullable, no
# default: catalog-only, but each needs ACCESS EXCLUSIVE) starts. The holder keeps its transaction
# open for HOLD seconds from the moment the first ALTER waits for its lock (it watches pg_locks), so
# that plain DDL stalls the readers for the whole HOLD. The same timeline runs twice:
#   plain  zdm.lock_timeout = 0: the first ALTER waits for the long transaction, and every reader queues
#          behind it until the transaction ends;
#   zdm    zdm.lock_timeout = LOCK_TIMEOUT with retries: each ALTER attempt waits at most LOCK_TIMEOUT,
#          then steps out of the queue, so a reader waits at most about LOCK_TIMEOUT.
# Reports pgbench's reader latency (p50, p99, max, from per-transaction logs), transactions, and the
# migration's duration and retry count.
#
#   bash bench/lockwait/run.sh
#   LOCK_TIMEOUT=100ms CLIENTS=16 bash bench/lockwait/run.sh
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

NAME=lwbench
PORT=${ZDM_BENCH_PORT:-55469}  # the lock-safe DDL room's scratch ports are 55460-55469
CLIENTS=${CLIENTS:-$(nproc)}  # more clients than CPUs measures the scheduler, not the locks
DURATION=${DURATION:-18}
HOLD=${HOLD:-10}
LOCK_TIMEOUT=${LOCK_TIMEOUT:-200ms}
RETRY_DELAY=${RETRY_DELAY:-50ms}
ROWS=${ROWS:-100000}
WORK=$(mktemp -d /tmp/zdm-lockwait-bench.XXXXXX)
chmod 777 "$WORK"

[ "${SKIP_BUILD:-0}" = 1 ] || build_and_install >/dev/null  # SKIP_BUILD=1: use what is installed
start_server "$NAME" "$PORT" "shared_preload_libraries = 'zdm'"
export PGHOST=$(readlink -f "$RUN_DIR") PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
trap 'stop_server $NAME; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

cat > "$WORK/select.sql" <<SQL
\set id random(1, $ROWS)
SELECT v FROM bench_t WHERE id = :id;
SQL

# migration.sql for one mode: 20 instant ADD COLUMNs, each in its own transaction (autocommit).
migration() {
  local mode=$1
  {
    echo "SET zdm.mode = off;"  # the guard's findings are not measured here
    if [ "$mode" = zdm ]; then
      echo "SET zdm.lock_timeout = '$LOCK_TIMEOUT'; SET zdm.lock_retry_delay = '$RETRY_DELAY'; SET zdm.lock_retries = 1000;"
    else
      echo "SET zdm.lock_timeout = 0;"
    fi
    for i in $(seq 1 20); do echo "ALTER TABLE bench_t ADD COLUMN c$i int;"; done
  } > "$WORK/migration_$mode.sql"
}

# percentile FILE P: the P-th percentile (nearest rank) of the numbers in FILE (one per line, sorted).
percentile() { awk -v p="$2" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }' "$1"; }

run_mode() {
  local mode=$1
  q "SET client_min_messages = warning; SET zdm.mode = off; DROP TABLE IF EXISTS bench_t; CREATE TABLE bench_t (id int PRIMARY KEY, v int);
     INSERT INTO bench_t SELECT g, g FROM generate_series(1, $ROWS) g;"
  q "VACUUM ANALYZE bench_t"
  migration "$mode"
  rm -f "$WORK"/pgbench_log.*
  (cd "$WORK" && pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f select.sql -l --log-prefix=pgbench_log \
     >"$WORK/pgbench_$mode.out" 2>&1) &
  local bench=$!
  sleep 1
  # The holder: read the table, wait until an ALTER waits for ACCESS EXCLUSIVE on it, then HOLD seconds.
  psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL &
SET application_name = 'lw-holder';
BEGIN;
SELECT count(*) FROM bench_t;
DO \$\$ BEGIN
  LOOP
    PERFORM FROM pg_locks WHERE relation = 'bench_t'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted;
    EXIT WHEN FOUND;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$\$;
SELECT pg_sleep($HOLD);
COMMIT;
SQL
  local holder=$!
  until [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE a.application_name = 'lw-holder' AND l.relation = 'bench_t'::regclass AND l.granted")" -gt 0 ]; do
    sleep 0.01
  done
  local t0 t1
  t0=$(date +%s.%N)
  psql -X -q -v ON_ERROR_STOP=1 -f "$WORK/migration_$mode.sql" >"$WORK/migration_$mode.out" 2>&1
  t1=$(date +%s.%N)
  wait "$holder" "$bench"
  cat "$WORK"/pgbench_log.* | awk '{ print $3 / 1000.0 }' | sort -n > "$WORK/lat_$mode"
  local n p50 p99 max retries columns slow
  n=$(wc -l < "$WORK/lat_$mode")
  p50=$(percentile "$WORK/lat_$mode" 50)
  p99=$(percentile "$WORK/lat_$mode" 99)
  max=$(tail -1 "$WORK/lat_$mode")
  slow=$(awk '$1 > 100 { n++ } END { print n + 0 }' "$WORK/lat_$mode")
  retries=$(grep -c "timed out waiting" "$WORK/migration_$mode.out" || true)
  columns=$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'bench_t'::regclass AND attname LIKE 'c%' AND attnum > 0")
  printf "%-6s %8d %9.2f %9.2f %10.2f %10d %12.2f %8d %8d\n" "$mode" "$n" "$p50" "$p99" "$max" "$slow" \
    "$(echo "$t1 - $t0" | bc)" "$retries" "$columns"
  echo "$mode $n $p50 $p99 $max" >> "$WORK/summary"
}

echo "select-only pgbench, $CLIENTS clients, ${DURATION}s; a transaction holds ACCESS SHARE for ${HOLD}s after the first ALTER queues;"
echo "migration: 20 x ALTER TABLE ADD COLUMN; zdm: lock_timeout $LOCK_TIMEOUT, retry delay $RETRY_DELAY"
printf "%-6s %8s %9s %9s %10s %10s %12s %8s %8s\n" mode xacts p50_ms p99_ms max_ms over_100ms migration_s retries columns
run_mode plain
run_mode zdm
awk '{ n[$1] = $2; p99[$1] = $4; max[$1] = $5 } END {
  printf "plain/zdm ratio: p99 %.1fx, max %.1fx; transactions zdm/plain %.2fx\n", p99["plain"] / p99["zdm"],
         max["plain"] / max["zdm"], n["zdm"] / n["plain"] }' "$WORK/summary"
