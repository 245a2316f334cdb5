#!/usr/bin/env bash
# Backfill benchmark (never run by CI): one table t(id bigint PRIMARY KEY, region text, payload text)
# of N rows, SET region = 'us' WHERE region IS NULL, by five methods, each on a freshly built table,
# while a pgbench writer updates random rows at a fixed rate (default every 5 ms). Reports seconds,
# rows/s, the writer's p99 and max latency during the run, and the table size before and after.
#
#   bash bench/backfill/run.sh [rows ...]          e.g. bash bench/backfill/run.sh 1000000 10000000
# Env: BENCH_PORT (55513), WRITER_RATE (200 tx/s), TARGET_BATCH_MS (100).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
PORT=${BENCH_PORT:-55513}
RATE=${WRITER_RATE:-200}
TARGET=${TARGET_BATCH_MS:-100}
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000)

build_and_install >/dev/null
start_server h5bench "$PORT" "shared_preload_libraries = 'zdm'" "max_worker_processes = 16" \
  "shared_buffers = 512MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" "zdm.mode = off"
export PGHOST=$(readlink -f "$RUN_DIR") PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql -Xq -c "CREATE EXTENSION IF NOT EXISTS zdm"
work=$(mktemp -d /tmp/zdm-bench-backfill.XXXXXX); chmod 777 "$work"
echo "\\set id random(1, :rows)
UPDATE t SET payload = md5(random()::text) WHERE id = :id;" > "$work/writer.sql"

now() { date +%s.%N; }

run_method() {
  local method=$1 rows=$2
  case $method in
    update) psql -Xq -c "UPDATE t SET region = 'us' WHERE region IS NULL" ;;
    loop_in_limit) psql -Xq -c "DO \$\$ DECLARE n bigint; BEGIN LOOP
        UPDATE t SET region = 'us' WHERE region IS NULL AND id IN (SELECT id FROM t WHERE region IS NULL LIMIT 10000);
        GET DIAGNOSTICS n = ROW_COUNT; COMMIT; EXIT WHEN n = 0; END LOOP; END \$\$" ;;
    do_id_ranges) psql -Xq -c "DO \$\$ DECLARE lo bigint := 0; hi bigint; BEGIN SELECT max(id) INTO hi FROM t;
        WHILE lo < hi LOOP
          UPDATE t SET region = 'us' WHERE region IS NULL AND id > lo AND id <= lo + 10000;
          lo := lo + 10000; COMMIT; END LOOP; END \$\$" ;;
    zdm_call) psql -Xq -c "SET client_min_messages = warning" \
        -c "CALL zdm.backfill('t', 'region = ''us''', 'region IS NULL', target_batch_ms => $TARGET)" ;;
    zdm_start) local id
      id=$(psql -XAtq -c "SELECT zdm.backfill_start('t', 'region = ''us''', 'region IS NULL', target_batch_ms => $TARGET)")
      until [ "$(psql -XAtq -c "SELECT state FROM zdm.backfill_jobs WHERE id = $id")" != running ]; do sleep 0.05; done ;;
  esac
}

printf '| rows | method | seconds | rows/s | vs UPDATE | writer p99 ms | writer max ms | size before | size after | after/before |\n'
printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for rows in "${SIZES[@]}"; do
  base_rps=""
  for method in update loop_in_limit do_id_ranges zdm_call zdm_start; do
    psql -Xq -c "DROP TABLE IF EXISTS t" -c "DELETE FROM zdm.backfill_jobs" \
      -c "CREATE TABLE t (id bigint PRIMARY KEY, region text, payload text)" \
      -c "INSERT INTO t SELECT g, NULL, md5(g::text) FROM generate_series(1, $rows) g" \
      -c "VACUUM ANALYZE t" -c "CHECKPOINT"
    before=$(psql -XAtq -c "SELECT pg_table_size('t')")
    rm -f "$work"/pgbench_log*
    (cd "$work" && as_server env PGHOST="$PGHOST" PGPORT="$PGPORT" pgbench -n -U postgres -c 2 -j 2 -R "$RATE" -T 100000 \
       -D rows="$rows" -f "$work/writer.sql" -l --log-prefix="$work/pgbench_log" postgres >/dev/null 2>&1) &
    writer=$!
    sleep 1
    t0=$(now); t0us=$(python3 -c "print(int($t0*1e6))")
    run_method "$method" "$rows"
    t1=$(now); t1us=$(python3 -c "print(int($t1*1e6))")
    sleep 0.5
    pkill -INT -P "$writer" pgbench 2>/dev/null || true; kill "$writer" 2>/dev/null || true; wait "$writer" 2>/dev/null || true
    after=$(psql -XAtq -c "SELECT pg_table_size('t')")
    left=$(psql -XAtq -c "SELECT count(*) FROM t WHERE region IS NULL")
    [ "$left" = 0 ] || echo "WARNING: $method left $left rows" >&2
    # pgbench log: client tx latency_us script epoch_s epoch_us; keep transactions that ended in the run.
    read -r p99 max < <(cat "$work"/pgbench_log* 2>/dev/null | awk -v a="$t0us" -v b="$t1us" \
        '{ end = $5 * 1000000 + $6; if (end >= a && end <= b) print $3 }' | sort -n | \
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.99); if (i < 1) i = 1;
              printf "%.1f %.1f\n", v[i] / 1000, v[NR] / 1000 }')
    secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    rps=$(python3 -c "print(int($rows / ($t1 - $t0)))")
    [ -n "$base_rps" ] || base_rps=$rps
    ratio=$(python3 -c "print(f'{$rps / $base_rps:.2f}')")
    growth=$(python3 -c "print(f'{$after / $before:.2f}')")
    printf '| %s | %s | %s | %s | %s× | %s | %s | %s MB | %s MB | %s× |\n' "$rows" "$method" "$secs" "$rps" "$ratio" \
      "$p99" "$max" "$((before / 1048576))" "$((after / 1048576))" "$growth"
  done
done
stop_server h5bench
rm -rf "$work"
