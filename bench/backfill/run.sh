#!/usr/bin/env bash
# Backfill benchmark (never run by CI): one table t(id bigint PRIMARY KEY, region text, payload text)
# of N rows, SET region = 'us' WHERE region IS NULL, by five methods, each on a freshly built table,
# while a pgbench writer updates random rows at a fixed rate (default 200 tx/s: one every 5 ms, two
# clients). Reports seconds, rows/s, the writer's p99 and max latency during the run, and the table
# size before and after. The methods:
#   update         one UPDATE of the whole table
#   loop_in_limit  UPDATE … WHERE region IS NULL AND id IN (SELECT id … WHERE region IS NULL LIMIT 10000)
#                  with COMMIT, repeated until it updates 0 rows
#   do_id_ranges   a DO block walking id ranges of 10,000 with COMMIT per range
#   zdm_call       CALL zdm.backfill(…, target_batch_ms => TARGET_BATCH_MS)
#   zdm_start      SELECT zdm.backfill_start(…), then wait for the job to end
#
#   bash bench/backfill/run.sh [rows ...]          e.g. ROUNDS=3 bash bench/backfill/run.sh 1000000
# Env: BENCH_PORT (55441), WRITER_RATE (200 tx/s), TARGET_BATCH_MS (100), ROUNDS (1),
#      METHODS (all five, space-separated).
# With ROUNDS > 1 the five methods run once per round, in an order rotated by one each round (the
# machine's drift spreads over all of them); every run is printed, then the medians.
# Writer latency is pgbench's with --rate: from each transaction's scheduled start to its end, so a
# writer stuck behind a lock also delays the writes queued after it. A transaction counts for a run
# when it overlaps the run (scheduled start before the run's end, end after the run's start).
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
PORT=${BENCH_PORT:-55441}
RATE=${WRITER_RATE:-200}
TARGET=${TARGET_BATCH_MS:-100}
ROUNDS=${ROUNDS:-1}
read -r -a METHODS <<< "${METHODS:-update loop_in_limit do_id_ranges zdm_call zdm_start}"
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
  local method=$1
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
      # One session polls every 20 ms for the job's end (on average 10 ms late: 0.5% of a 2 s run).
      # The COMMIT matters: a DO block holds its statement's snapshot until its first COMMIT, and a
      # snapshot held for the whole run would keep every dead row version alive (nothing can be
      # pruned, the table doubles), as any long transaction does.
      psql -Xq -c "DO \$\$ BEGIN
          WHILE (SELECT state FROM zdm.backfill_jobs WHERE id = $id) IN ('running', 'waiting for replica') LOOP
            COMMIT; PERFORM pg_sleep(0.02); END LOOP; END \$\$" ;;
  esac
}

results=$work/results.tsv
: > "$results"
printf '| rows | round | method | seconds | rows/s | vs UPDATE (same round) | writer p99 ms | writer max ms | size before | size after | after/before | load avg |\n'
printf '|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for rows in "${SIZES[@]}"; do
  for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order by one per round.
    order=()
    n=${#METHODS[@]}
    for ((k = 0; k < n; k++)); do order+=("${METHODS[$(( (k + round - 1) % n ))]}"); done
    declare -A rps_of=()
    lines=()
    for method in "${order[@]}"; do
      psql -Xq -c "DROP TABLE IF EXISTS t" -c "DELETE FROM zdm.backfill_jobs" \
        -c "CREATE TABLE t (id bigint PRIMARY KEY, region text, payload text)" \
        -c "INSERT INTO t SELECT g, NULL, md5(g::text) FROM generate_series(1, $rows) g" \
        -c "VACUUM ANALYZE t" -c "CHECKPOINT" 2>/dev/null
      before=$(psql -XAtq -c "SELECT pg_table_size('t')")
      rm -f "$work"/pgbench_log*
      (cd "$work" && as_server env PGHOST="$PGHOST" PGPORT="$PGPORT" pgbench -n -U postgres -c 2 -j 2 -R "$RATE" -T 100000 \
         -D rows="$rows" -f "$work/writer.sql" -l --log-prefix="$work/pgbench_log" postgres >/dev/null 2>&1) &
      writer=$!
      sleep 1
      t0=$(now)
      run_method "$method"
      t1=$(now)
      sleep 0.5
      pkill -INT -P "$writer" pgbench 2>/dev/null || true; kill "$writer" 2>/dev/null || true; wait "$writer" 2>/dev/null || true
      load=$(cut -d' ' -f1 /proc/loadavg)
      after=$(psql -XAtq -c "SELECT pg_table_size('t')")
      left=$(psql -XAtq -c "SELECT count(*) FROM t WHERE region IS NULL")
      [ "$left" = 0 ] || echo "WARNING: $method left $left rows" >&2
      # pgbench log: client tx latency_us script epoch_s epoch_us [lag_us]; the end is epoch_s.epoch_us.
      read -r p99 max < <(cat "$work"/pgbench_log* 2>/dev/null | awk -v a="$t0" -v b="$t1" \
          '{ end = $5 + $6 / 1e6; start = end - $3 / 1e6; if (end >= a && start <= b) print $3 }' | sort -n | \
          awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.99); if (i < 1) i = 1;
                printf "%.1f %.1f\n", v[i] / 1000, v[NR] / 1000 }')
      secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
      rps=$(python3 -c "print(int($rows / ($t1 - $t0)))")
      rps_of[$method]=$rps
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rows" "$round" "$method" "$secs" "$rps" "$p99" "$max" \
        "$before" "$after" "$load" >> "$results"
      lines+=("$method $secs $rps $p99 $max $before $after $load")
    done
    for line in "${lines[@]}"; do
      read -r method secs rps p99 max before after load <<< "$line"
      base=${rps_of[update]:-}
      ratio=-; [ -n "$base" ] && ratio=$(python3 -c "print(f'{$rps / $base:.2f}×')")
      growth=$(python3 -c "print(f'{$after / $before:.2f}')")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s MB | %s MB | %s× | %s |\n' "$rows" "$round" "$method" "$secs" \
        "$rps" "$ratio" "$p99" "$max" "$((before / 1048576))" "$((after / 1048576))" "$growth" "$load"
    done
    unset rps_of
  done
done

if [ "$ROUNDS" -gt 1 ]; then
  echo
  echo "Medians over $ROUNDS rounds (writer max: the largest of the rounds):"
  python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| rows | method | seconds | rows/s | vs UPDATE | writer p99 ms | writer max ms | after/before |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
sizes = []
for r in rows:
    if r[0] not in sizes: sizes.append(r[0])
methods = []
for r in rows:
    if r[2] not in methods: methods.append(r[2])
for n in sizes:
    med = {}
    for m in methods:
        rs = [r for r in rows if r[0] == n and r[2] == m]
        if not rs: continue
        num = lambda i: [float(r[i]) for r in rs if r[i] != "-"]
        med[m] = dict(secs=statistics.median(num(3)), rps=statistics.median(num(4)),
                      p99=statistics.median(num(5)) if num(5) else None, mx=max(num(6)) if num(6) else None,
                      growth=statistics.median([float(r[8]) / float(r[7]) for r in rs]))
    base = med.get("update", {}).get("rps")
    for m, v in med.items():
        ratio = f"{v['rps'] / base:.2f}×" if base else "-"
        p99 = f"{v['p99']:.1f}" if v["p99"] is not None else "-"
        mx = f"{v['mx']:.1f}" if v["mx"] is not None else "-"
        print(f"| {n} | {m} | {v['secs']:.2f} | {int(v['rps'])} | {ratio} | {p99} | {mx} | {v['growth']:.2f}× |")
EOF
fi
stop_server h5bench
rm -rf "$work"
