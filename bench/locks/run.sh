#!/usr/bin/env bash
# Lock-report benchmark (never run by CI): N sessions waiting behind one holder (the DDL-in-queue
# pile-up: a reader holds ACCESS SHARE, ALTER TABLE waits, N-1 readers queue behind it) plus a chain of
# three on two other tables. For N = 50 and 250, in one run, it measures three ways to ask "who blocks
# whom": zdm.lock_report(), the usual pg_locks self-join, and pg_blocking_pids() over pg_stat_activity.
# Reports rows returned and median latency (pgbench, one client, each query in its own transaction),
# with the rows sent to the client and, separately, counted on the server (SELECT count(*) FROM (...)).
#
#   bash bench/locks/run.sh            # sizes 50 250, 100 runs per query in 5 alternating rounds
#   SIZES="50" RUNS=20 bash bench/locks/run.sh
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

NAME=h6bench
PORT=${ZDM_BENCH_PORT:-55459}
SIZES=${SIZES:-"50 250"}
RUNS=${RUNS:-100}
ROUNDS=${ROUNDS:-5}  # the runs of each query are split into rounds that alternate between the queries
WORK=$(mktemp -d /tmp/zdm-locks-bench.XXXXXX)
chmod 777 "$WORK"

build_and_install >/dev/null
start_server "$NAME" "$PORT" "shared_preload_libraries = 'zdm'" "max_connections = 600"
export PGHOST=$(readlink -f "$RUN_DIR") PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
trap 'stop_server $NAME; rm -rf "$WORK"' EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
q "CREATE EXTENSION zdm; CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;
   CREATE TABLE c1 (id int); CREATE TABLE c2 (id int);"

cat > "$WORK/zdm.sql" <<'SQL'
SELECT * FROM zdm.lock_report();
SQL
# The classic monitoring query (PostgreSQL wiki, "Lock Monitoring"): one row per pair of lock entries.
cat > "$WORK/selfjoin.sql" <<'SQL'
SELECT blocked_locks.pid AS blocked_pid, blocked_activity.usename AS blocked_user,
       blocking_locks.pid AS blocking_pid, blocking_activity.usename AS blocking_user,
       blocked_activity.query AS blocked_statement, blocking_activity.query AS blocking_statement
  FROM pg_catalog.pg_locks blocked_locks
  JOIN pg_catalog.pg_stat_activity blocked_activity ON blocked_activity.pid = blocked_locks.pid
  JOIN pg_catalog.pg_locks blocking_locks
    ON blocking_locks.locktype = blocked_locks.locktype
   AND blocking_locks.database IS NOT DISTINCT FROM blocked_locks.database
   AND blocking_locks.relation IS NOT DISTINCT FROM blocked_locks.relation
   AND blocking_locks.page IS NOT DISTINCT FROM blocked_locks.page
   AND blocking_locks.tuple IS NOT DISTINCT FROM blocked_locks.tuple
   AND blocking_locks.virtualxid IS NOT DISTINCT FROM blocked_locks.virtualxid
   AND blocking_locks.transactionid IS NOT DISTINCT FROM blocked_locks.transactionid
   AND blocking_locks.classid IS NOT DISTINCT FROM blocked_locks.classid
   AND blocking_locks.objid IS NOT DISTINCT FROM blocked_locks.objid
   AND blocking_locks.objsubid IS NOT DISTINCT FROM blocked_locks.objsubid
   AND blocking_locks.pid != blocked_locks.pid
  JOIN pg_catalog.pg_stat_activity blocking_activity ON blocking_activity.pid = blocking_locks.pid
 WHERE NOT blocked_locks.granted;
SQL
cat > "$WORK/blocking_pids.sql" <<'SQL'
SELECT pid, usename, pg_blocking_pids(pid) AS blocked_by, query
  FROM pg_catalog.pg_stat_activity WHERE wait_event_type = 'Lock';
SQL

# The sessions that build the pile-up run their statements as plain PostgreSQL does: with lock-safe DDL
# on, the queued ALTER would give up after zdm.lock_timeout and retry (README.md, "Lock-safe DDL"), and the readers
# behind it would get through; the guard's warnings are not what is measured.
bg() { PGOPTIONS="-c zdm.lock_timeout=0 -c zdm.mode=off" psql -X -q -c "$1" >/dev/null 2>&1 & }

waiting() { q "SELECT count(*) FROM pg_locks WHERE NOT granted"; }
wait_for_waiters() {
  local want=$1
  for _ in $(seq 1 600); do
    [ "$(waiting)" -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "only $(waiting) of $want sessions waiting" >&2; return 1
}
wait_until() {  # wait_until SQL-condition
  for _ in $(seq 1 600); do
    [ "$(q "SELECT ($1)")" = t ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2; return 1
}
held() { echo "EXISTS (SELECT FROM pg_locks WHERE relation = '$1'::regclass AND mode = '$2' AND granted)"; }
awaited() { echo "(SELECT count(*) FROM pg_locks WHERE relation = '$1'::regclass AND NOT granted) >= $2"; }
end_sessions() {
  q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null 2>&1
  for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" -eq 0 ] && return 0
    sleep 0.1
  done
}
median_ms() {  # pgbench --log lines: client transaction latency_us script epoch epoch_us
  cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1000}'
}

echo "| waiting sessions | query | rows returned | median latency (ms), rows sent | vs pg_blocking_pids | median latency (ms), counted on the server | vs pg_blocking_pids |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for n in $SIZES; do
  end_sessions
  # The pile-up: holder, the ALTER behind it, n-1 readers behind the ALTER.
  bg "BEGIN; SELECT count(*) FROM t; SELECT pg_sleep(3600);"
  wait_until "$(held t AccessShareLock)"
  bg "ALTER TABLE t ADD COLUMN IF NOT EXISTS x int;"  # queues for ACCESS EXCLUSIVE even if an earlier size added x
  wait_until "$(awaited t 1)"
  for _ in $(seq 2 "$n"); do bg "SELECT count(*) FROM t;"; done
  # A chain of three: a holds c1; b holds c2 and waits for c1; c waits for c2.
  bg "BEGIN; LOCK TABLE c1; SELECT pg_sleep(3600);"
  wait_until "$(held c1 AccessExclusiveLock)"
  bg "BEGIN; LOCK TABLE c2; LOCK TABLE c1; COMMIT;"
  wait_until "$(awaited c1 1)"
  bg "SELECT count(*) FROM c2;"
  wait_for_waiters $((n + 2))
  waiters=$(waiting)
  declare -A med=()
  declare -A rows=()
  for query in zdm selfjoin blocking_pids; do
    rows[$query]=$(q "SELECT count(*) FROM ($(sed 's/;$//' "$WORK/$query.sql")) q")
    # The same query counted on the server: its cost without sending the rows to the client.
    echo "SELECT count(*) FROM ($(sed 's/;$//' "$WORK/$query.sql")) q;" > "$WORK/${query}_count.sql"
    rm -f "$WORK"/pgb_"$query"*
  done
  # Alternating rounds, so that a change in the machine's load during the run falls on every query alike.
  for round in $(seq 1 "$ROUNDS"); do
    for query in zdm selfjoin blocking_pids zdm_count selfjoin_count blocking_pids_count; do
      (cd "$WORK" && pgbench -n -c 1 -t "$((RUNS / ROUNDS))" -f "$query.sql" -l --log-prefix="pgb_${query}_r$round" >/dev/null 2>&1)
    done
  done
  for query in zdm selfjoin blocking_pids zdm_count selfjoin_count blocking_pids_count; do
    med[$query]=$(median_ms "$WORK"/pgb_"$query"_r*)
  done
  label() { case $1 in zdm) echo "zdm.lock_report()";; selfjoin) echo "pg_locks self-join";; blocking_pids) echo "pg_blocking_pids() over pg_stat_activity";; esac; }
  for query in zdm selfjoin blocking_pids; do
    ratio=$(awk -v a="${med[$query]}" -v b="${med[blocking_pids]}" 'BEGIN { printf "%.2f", a / b }')
    ratio_count=$(awk -v a="${med[${query}_count]}" -v b="${med[blocking_pids_count]}" 'BEGIN { printf "%.2f", a / b }')
    echo "| $waiters | $(label $query) | ${rows[$query]} | ${med[$query]} | ${ratio}x | ${med[${query}_count]} | ${ratio_count}x |"
  done
  # ZDM_BENCH_HOLD=<seconds>: keep the sessions waiting that long (to profile by hand).
  if [ -n "${ZDM_BENCH_HOLD:-}" ]; then echo "holding for ${ZDM_BENCH_HOLD}s (PGHOST=$PGHOST PGPORT=$PGPORT)"; sleep "$ZDM_BENCH_HOLD"; fi
  unset med rows
done
end_sessions
