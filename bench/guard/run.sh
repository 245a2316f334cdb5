#!/usr/bin/env bash
# Guard benchmarks (never run by CI), both in one run on the same machine:
#
# 1. Hook overhead: pgbench with a DDL-heavy custom script (create temp table, alter, index, drop),
#    with and without zdm, on ONE scratch server and in one database, alternating: "with" sessions
#    load the library (session_preload_libraries = 'zdm') and the extension's event trigger is
#    enabled; "without" sessions do not load it and the event trigger is disabled (nothing of zdm
#    runs). One server, because the script's cost is mostly the kernel creating and unlinking the
#    temporary table's files, and two data directories on the same ext4 file system drift apart by
#    +-30 % (inode allocation scans recently deleted inodes of the directory's block group).
#    Reports the median of the per-round TPS ratios (goal >= 0.98), the backend's own CPU time
#    (/proc utime + stime) for a fixed number of transactions, alternating, and with perf the share
#    of the backend's samples in zdm's hook work.
#    TABLE=permanent runs the same script on a regular table instead of a temporary one: then the hook
#    judges every statement in full (a temporary table's statements are skipped at once), so this is
#    the guard's cost on a real migration's DDL; TEMP_ON_TMPFS then puts that table on tmpfs.
#    TEMP_ON_TMPFS=1 puts temporary tables in a tablespace on /dev/shm: no file-system cost, so the
#    backend is CPU-bound in PostgreSQL's DDL code and zdm's share is at its largest.
# 2. Lint throughput: zdm.lint() on a generated migration of STATEMENTS statements vs squawk
#    (npm package squawk-cli, installed into bench/guard/node_modules, git-ignored; its compact
#    "gcc" reporter, one line per issue: its default "tty" reporter is ten times slower). Both are timed
#    as a whole command from the shell (psql sending the file and receiving every finding row;
#    squawk reading the file and printing its report), LINT_RUNS times each, alternating; reports
#    statements/s from the median times and the ratio zdm/squawk (goal >= 2). Skipped, with a note,
#    while zdm.lint() does not exist.
#
#   bash bench/guard/run.sh
#   TEMP_ON_TMPFS=1 bash bench/guard/run.sh
#   TABLE=permanent TEMP_ON_TMPFS=1 bash bench/guard/run.sh
#   ROUNDS=3 SECONDS_PER_RUN=5 STATEMENTS=2000 bash bench/guard/run.sh   # a quick look
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

ROUNDS=${ROUNDS:-10}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CLIENTS=${CLIENTS:-1}
STATEMENTS=${STATEMENTS:-10000}
LINT_RUNS=${LINT_RUNS:-5}
SQUAWK_VERSION=${SQUAWK_VERSION:-2.66.0}
TEMP_ON_TMPFS=${TEMP_ON_TMPFS:-0}
TABLE=${TABLE:-temp}
case "$TABLE" in temp|permanent) ;; *) echo "TABLE must be temp or permanent" >&2; exit 2 ;; esac
PORT=${ZDM_BENCH_PORT:-55507}
HERE=$ROOT/bench/guard
WORK=$(mktemp -d /tmp/zdm-guard-bench.XXXXXX)
chmod 755 "$WORK"
TMPFS_DIR=/dev/shm/zdm-guard-bench.$$

build_and_install >/dev/null
# Warnings are not written to the server log (log_min_messages) nor sent to pgbench
# (client_min_messages), so a finding costs its judgement, not log I/O. Autovacuum is off and the
# server is vacuumed and checkpointed before every run: the script churns the catalogs, and an
# autovacuum or checkpoint during a run would take CPU from it (2 cores).
start_server h4bench "$PORT" "log_min_messages = error" "max_connections = 50" "shared_buffers = 128MB" "autovacuum = off"
trap 'stop_server h4bench; stop_server h4instr; rm -rf "$WORK" "$TMPFS_DIR"' EXIT
export PGHOST=$(readlink -f "$RUN_DIR") PGUSER=postgres PGDATABASE=postgres

q() { "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -p "$PORT" -c "$1"; }
q "CREATE EXTENSION zdm;"
if [ "$TEMP_ON_TMPFS" = 1 ]; then
  as_server mkdir -p "$TMPFS_DIR"
  q "CREATE TABLESPACE zdm_bench_tmpfs LOCATION '$TMPFS_DIR'"
  q "ALTER SYSTEM SET temp_tablespaces = 'zdm_bench_tmpfs'"
  q "ALTER SYSTEM SET default_tablespace = 'zdm_bench_tmpfs'"
  q "SELECT pg_reload_conf()" >/dev/null
fi

# phase with|without: what the next sessions get. PGOPTIONS_PHASE holds their options.
# CONTROL=1 (an A/A control): the "with" sessions are "without" sessions too, so every ratio measures
# only the method's noise on this machine.
CONTROL=${CONTROL:-0}
phase() {
  if [ "$1" = with ] && [ "$CONTROL" != 1 ]; then
    q "ALTER EVENT TRIGGER zdm_guard ENABLE"
    PGOPTIONS_PHASE="-c session_preload_libraries=zdm -c client_min_messages=error"
  else
    q "ALTER EVENT TRIGGER zdm_guard DISABLE"
    PGOPTIONS_PHASE="-c client_min_messages=error"
  fi
}
# After a DDL statement (which would fire the event trigger), is the library loaded?
loaded() {
  PGOPTIONS="$PGOPTIONS_PHASE" "$PG_BINDIR/psql" -X -q -At -p "$PORT" \
    -c "CREATE TEMP TABLE zdm_bench_probe ()" -c "SELECT count(*) FROM pg_settings WHERE name = 'zdm.mode'"
}
if [ "$CONTROL" = 1 ]; then
  echo "== CONTROL=1: an A/A control, zdm is loaded in neither kind of session (\"with\" below is without zdm)"
else
  phase with; [ "$(loaded)" = 1 ] || { echo "zdm not loaded in the 'with' phase"; exit 1; }
fi
phase without; [ "$(loaded)" = 0 ] || { echo "zdm loaded in the 'without' phase"; exit 1; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------------------------------------
# 1. Hook overhead. Every statement but BEGIN/COMMIT is a utility statement the hook judges.
cat > "$WORK/ddl.sql" <<'SQL'
BEGIN;
CREATE TEMP TABLE bench_tmp (id int PRIMARY KEY, v text);
ALTER TABLE bench_tmp ALTER COLUMN id TYPE bigint;
CREATE INDEX bench_tmp_v ON bench_tmp (v);
COMMIT;
ALTER TABLE bench_tmp ADD COLUMN w int;
ALTER TABLE bench_tmp ALTER COLUMN v SET DEFAULT 'x';
DROP TABLE bench_tmp;
SQL
if [ "$TABLE" = permanent ]; then sed -i "s/CREATE TEMP TABLE/CREATE TABLE/" "$WORK/ddl.sql"; fi

settle() { q "VACUUM" && q "CHECKPOINT"; }
# Clients on the first CPU, the server (postmaster, and so every backend it forks) on the last one:
# the two never compete for a core, and the scheduler moves neither between cores. Skipped on one CPU
# or without taskset (util-linux).
CLIENT_CPU=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  CLIENT_CPU=0
  server_cpu=$(($(nproc) - 1))
  postmaster=$(as_server head -1 "$RUN_DIR/h4bench/postmaster.pid")
  for pid in "$postmaster" $(pgrep -P "$postmaster"); do taskset -a -p -c "$server_cpu" "$pid" >/dev/null; done
fi
client() { if [ -n "$CLIENT_CPU" ]; then taskset -c "$CLIENT_CPU" "$@"; else "$@"; fi; }
# A round runs each kind twice, mirrored (without, with, with, without; the next round the other way
# round), so that a drift in time (the catalogs grow, the file system ages) weighs on both kinds
# alike. Its ratio is the ratio of the two sums.
round_order() { if [ $(($1 % 2)) -eq 1 ]; then echo "without with with without"; else echo "with without without with"; fi; }

run_pgbench() {  # run_pgbench with|without -> TPS
  phase "$1"
  settle
  PGOPTIONS="$PGOPTIONS_PHASE" client "$PG_BINDIR/pgbench" -n -p "$PORT" -c "$CLIENTS" -j "$CLIENTS" \
    -T "$SECONDS_PER_RUN" -f "$WORK/ddl.sql" postgres 2>&1 |
    awk '/^tps = / { print $3 }'
}
where="temporary tables in the default tablespace"
[ "$TEMP_ON_TMPFS" = 1 ] && where="temporary tables on tmpfs (temp_tablespaces)"
[ "$TABLE" = permanent ] && where="a regular table$([ "$TEMP_ON_TMPFS" = 1 ] && echo " on tmpfs (default_tablespace)")"
pinned="not pinned to CPUs"
[ -n "$CLIENT_CPU" ] && pinned="client on CPU $CLIENT_CPU, server on CPU $server_cpu"
echo "== guard overhead: pgbench, $ROUNDS rounds x (without, with, with, without, mirrored every other round) x ${SECONDS_PER_RUN}s, $CLIENTS clients, $where, $pinned; DDL script:"
sed 's/^/   /' "$WORK/ddl.sql"
: >"$WORK/with"; : >"$WORK/without"; : >"$WORK/ratio"
# One discarded run of each first: a fresh cluster's first seconds (catalog caches) are slower.
run_pgbench without >/dev/null; run_pgbench with >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  line="   round $round:"
  sum_with=0; sum_without=0
  for which in $(round_order "$round"); do
    tps=$(run_pgbench "$which")
    [ -n "$tps" ] || { echo "pgbench failed ($which)"; exit 1; }
    echo "$tps" >>"$WORK/$which"
    line="$line $which $tps"
    eval "sum_$which=\$(awk -v a=\"\$sum_$which\" -v b=\"$tps\" 'BEGIN { print a + b }')"
  done
  awk -v a="$sum_with" -v b="$sum_without" 'BEGIN { printf "%.6f\n", a / b }' >>"$WORK/ratio"
  echo "$line (with/without $(tail -1 "$WORK/ratio"))"
done
tps_with=$(median <"$WORK/with"); tps_without=$(median <"$WORK/without")
echo "   median TPS without zdm: $tps_without"
echo "   median TPS with zdm:    $tps_with"
awk -v a="$tps_with" -v b="$tps_without" 'BEGIN { printf "   ratio of the medians with/without: %.3f\n", a / b }'
echo "   per-round ratios: min $(sort -g "$WORK/ratio" | head -1), max $(sort -g "$WORK/ratio" | tail -1)"
quartiles() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f-%.3f", v[int((NR + 3) / 4)], v[int((3 * NR + 3) / 4)] }'; }
echo "   per-round ratios, middle half: $(quartiles <"$WORK/ratio")"
awk -v r="$(median <"$WORK/ratio")" 'BEGIN { printf "   median per-round ratio with/without: %.3f (goal >= 0.98)\n", r }'

# 1b. The backend's CPU time for a fixed number of transactions, with and without zdm: one psql
# session per run plays the DDL script CPU_TRANSACTIONS times and reads its own backend's utime +
# stime from /proc at the end (clock ticks). Nothing else is counted (not the client, not waiting), so
# the ratio without/with is the throughput ratio of a backend-bound run. Rounds as above; the median
# per-round ratio is reported.
CPU_ROUNDS=${CPU_ROUNDS:-8}
CPU_TRANSACTIONS=${CPU_TRANSACTIONS:-2000}
{
  for _ in $(seq "$CPU_TRANSACTIONS"); do cat "$WORK/ddl.sql"; done
  echo "SELECT pg_backend_pid() AS pid \gset"
  echo '\setenv ZDM_BENCH_PID :pid'
  echo "\\! awk '{ print \$14 + \$15 }' /proc/\$ZDM_BENCH_PID/stat"
} >"$WORK/cpu.sql"
echo "   backend CPU time for $CPU_TRANSACTIONS transactions of the script, $CPU_ROUNDS rounds (clock ticks):"
: >"$WORK/cpu_ratio"
for round in $(seq 1 "$CPU_ROUNDS"); do
  line="   round $round:"
  ticks_with=0; ticks_without=0
  for which in $(round_order "$round"); do
    phase "$which"
    settle
    ticks=$(PGOPTIONS="$PGOPTIONS_PHASE" client "$PG_BINDIR/psql" -X -q -At -p "$PORT" -f "$WORK/cpu.sql" 2>/dev/null | tail -1)
    [ -n "$ticks" ] || { echo "cpu run failed ($which)"; exit 1; }
    eval "ticks_$which=\$((ticks_$which + ticks))"
    line="$line $which $ticks"
  done
  awk -v off="$ticks_without" -v on="$ticks_with" 'BEGIN { printf "%.6f\n", off / on }' >>"$WORK/cpu_ratio"
  echo "$line (without/with $(tail -1 "$WORK/cpu_ratio"))"
done
echo "   per-round CPU ratios, middle half: $(quartiles <"$WORK/cpu_ratio")"
awk -v r="$(median <"$WORK/cpu_ratio")" 'BEGIN { printf "   median per-round CPU ratio without/with: %.3f (goal >= 0.98)\n", r }'

# 1c. Where the backend's time goes with zdm: perf samples (on CPU, user and kernel) of the pgbench
# backend, and the share in zdm's hook work (judging and planning, children included; not the
# statement itself, which the hook calls). Part of it is only done earlier: the relation's lookup and
# its cache entry are then found ready by PostgreSQL, so this is an upper bound. Skipped without perf
# (Debian: linux-perf).
phase with
if command -v perf >/dev/null && perf record -o /dev/null -- true >/dev/null 2>&1; then
  echo "   profile of the pgbench backend with zdm (perf, ${SECONDS_PER_RUN}s):"
  settle
  PGOPTIONS="$PGOPTIONS_PHASE" client "$PG_BINDIR/pgbench" -n -p "$PORT" -c 1 -j 1 \
    -T $((SECONDS_PER_RUN + 2)) -f "$WORK/ddl.sql" postgres >"$WORK/pgbench_profiled" 2>&1 &
  pgbench_pid=$!
  backend=""
  for _ in $(seq 50); do
    backend=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
    [ -n "$backend" ] && break
    sleep 0.1
  done
  if [ -n "$backend" ]; then
    perf record -q -F 2000 -g -p "$backend" -o "$WORK/perf.data" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 || true
  fi
  wait "$pgbench_pid" || true
  if [ -s "$WORK/perf.data" ]; then
    perf report -i "$WORK/perf.data" --children --stdio -g none --percent-limit 0 2>/dev/null |
      awk '/\[\.\] zdm::guard::judge_and_report$/ { j = $1 } /\[\.\] zdm::lockwait::plan_statement$/ { p = $1 }
           END { sub("%", "", j); sub("%", "", p); t = j + p;
                 printf "     judging %.2f%%, lock-safe planning %.2f%%: zdm %.2f%% of the backend, bound on throughput %.3f of without\n",
                        j, p, t, 1 / (1 + t / (100 - t)) }'
  else
    echo "     no samples (perf could not attach)"
  fi
else
  echo "   (perf not available: no profile)"
fi

# 1d. Instructions the backend executes (valgrind's callgrind, user space), with and without zdm:
# deterministic where time is not, so it shows what the hook itself adds with no noise at all. A
# second scratch server, fresh, runs under valgrind; three sessions in turn (without, with, without)
# each play the script INSTR_TRANSACTIONS times; the ratio is the mean "without" count over the
# "with" count. It counts neither the kernel (the same system calls either way: strace -c) nor
# cache misses. Skipped without valgrind.
INSTR_TRANSACTIONS=${INSTR_TRANSACTIONS:-300}
if command -v valgrind >/dev/null; then
  iport=$((PORT + 1))
  start_server h4instr "$iport" "autovacuum = off" "log_min_messages = error"
  "$PG_BINDIR/psql" -X -q -p "$iport" -c "CREATE EXTENSION zdm" postgres
  as_server "$PG_BINDIR/pg_ctl" -D "$RUN_DIR/h4instr" -m fast -w stop >/dev/null
  mkdir -p "$WORK/cg"; chown "$(as_server id -u)" "$WORK/cg" 2>/dev/null || true
  as_server bash -c "valgrind --tool=callgrind --trace-children=yes --callgrind-out-file='$WORK/cg/cg.%p' \
    '$PG_BINDIR/postgres' -D '$RUN_DIR/h4instr' >'$WORK/cg/server.log' 2>&1 &"
  for _ in $(seq 300); do "$PG_BINDIR/pg_isready" -q -p "$iport" && break; sleep 0.5; done
  {
    echo "SELECT pg_backend_pid() AS pid \gset"
    echo "\\o $WORK/cg/pid"; echo '\pset tuples_only on'; echo 'SELECT :pid;'; echo '\o'
    for _ in $(seq "$INSTR_TRANSACTIONS"); do cat "$WORK/ddl.sql"; done
  } >"$WORK/instr.sql"
  instructions() {  # instructions with|without -> the session backend's instruction count
    local trigger=DISABLE opts="-c client_min_messages=error"
    if [ "$1" = with ] && [ "$CONTROL" != 1 ]; then trigger=ENABLE; opts="$opts -c session_preload_libraries=zdm"; fi
    "$PG_BINDIR/psql" -X -q -p "$iport" -c "ALTER EVENT TRIGGER zdm_guard $trigger" -c VACUUM postgres
    PGOPTIONS="$opts" "$PG_BINDIR/psql" -X -q -p "$iport" -f "$WORK/instr.sql" postgres >/dev/null 2>&1
    local pid; pid=$(tr -dc 0-9 <"$WORK/cg/pid")
    for _ in $(seq 100); do grep -q '^totals:' "$WORK/cg/cg.$pid" 2>/dev/null && break; sleep 0.2; done
    awk '/^totals:/ { print $2 }' "$WORK/cg/cg.$pid"
  }
  i1=$(instructions without); i2=$(instructions with); i3=$(instructions without)
  as_server "$PG_BINDIR/pg_ctl" -D "$RUN_DIR/h4instr" -m fast -w -t 300 stop >/dev/null
  echo "   instructions of the backend for $INSTR_TRANSACTIONS transactions (callgrind): without $i1, with $i2, without $i3"
  awk -v a="$i1" -v b="$i2" -v c="$i3" 'BEGIN { printf "   instruction ratio without/with: %.4f (zdm adds %.2f %%, library loading included)\n", (a + c) / 2 / b, 100 * (b / ((a + c) / 2) - 1) }'
else
  echo "   (valgrind not available: no instruction count)"
fi

# ---------------------------------------------------------------------------------------------
# 2. Lint throughput.
echo
echo "== lint: $STATEMENTS statements, zdm.lint() vs squawk $SQUAWK_VERSION"
if [ "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'zdm'::regnamespace AND proname = 'lint'")" = 0 ]; then
  echo "   zdm.lint() does not exist in this build: skipped"
  exit 0
fi
if [ ! -x "$HERE/node_modules/.bin/squawk" ]; then
  npm install --no-audit --no-fund --no-save --silent --prefix "$HERE" "squawk-cli@$SQUAWK_VERSION" >/dev/null
fi
SQUAWK=$HERE/node_modules/.bin/squawk

# A migration in groups of ten statements, as a real migration history has them: a new table and a
# change to it, and safe and risky changes to 100 tables that exist in the database (1,000 rows each),
# so that zdm reads the catalog for most statements and has findings to report.
q "DO \$\$ BEGIN FOR i IN 0..99 LOOP
    EXECUTE format('CREATE TABLE bench_t%s (id int PRIMARY KEY, name text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now())', i);
    EXECUTE format('INSERT INTO bench_t%s SELECT g, ''n'' || g FROM generate_series(1, 1000) g', i);
  END LOOP; END \$\$; ANALYZE;"
awk -v n="$STATEMENTS" 'BEGIN {
  for (i = 0; i < n; i++) {
    g = int(i / 10); k = i % 10; t = "app_t" g; e = "bench_t" (g % 100);
    if (k == 0) print "CREATE TABLE " t " (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());";
    else if (k == 1) print "ALTER TABLE " t " ADD COLUMN note text;";
    else if (k == 2) print "CREATE INDEX CONCURRENTLY " e "_name_" g " ON " e " (name);";
    else if (k == 3) print "ALTER TABLE " e " ADD COLUMN c" g " integer;";
    else if (k == 4) print "ALTER TABLE " e " ADD CONSTRAINT " e "_len_" g " CHECK (length(name) < 300) NOT VALID;";
    else if (k == 5) print "ALTER TABLE " e " VALIDATE CONSTRAINT " e "_len_" g ";";
    else if (k == 6) print "CREATE INDEX " e "_created_" g " ON " e " (created_at);";
    else if (k == 7) print "ALTER TABLE " e " ALTER COLUMN id TYPE bigint;";
    else if (k == 8) print "ALTER TABLE " e " ADD COLUMN d" g " timestamptz DEFAULT clock_timestamp();";
    else print "ALTER TABLE " e " ALTER COLUMN name SET NOT NULL;";
  }
}' >"$WORK/migration.sql"
chmod 644 "$WORK/migration.sql"
echo "   migration: $(wc -l <"$WORK/migration.sql") statements, $(wc -c <"$WORK/migration.sql") bytes"

now_ns() { date +%s%N; }
# The whole migration as one dollar-quoted literal, so psql sends it as it is.
{ echo 'SELECT * FROM zdm.lint($zdm_bench$'; cat "$WORK/migration.sql"; echo '$zdm_bench$);'; } >"$WORK/lint.sql"
time_zdm() {
  local t0; t0=$(now_ns)
  "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -p "$PORT" -f "$WORK/lint.sql" >"$WORK/zdm.out"
  echo $(( $(now_ns) - t0 ))
}
time_squawk() {
  local t0; t0=$(now_ns)
  "$SQUAWK" --pg-version=15.0 --reporter gcc "$WORK/migration.sql" >"$WORK/squawk.out" 2>&1 || true
  echo $(( $(now_ns) - t0 ))
}
: >"$WORK/zdm.ns"; : >"$WORK/squawk.ns"
for r in $(seq 1 "$LINT_RUNS"); do
  time_zdm >>"$WORK/zdm.ns"
  time_squawk >>"$WORK/squawk.ns"
done
findings=$(q "SELECT sum(n) || ' (' || string_agg(n || ' ' || rule, ', ') || ')' FROM
  (SELECT rule, count(*) n FROM zdm.lint(pg_read_file('$WORK/migration.sql')) GROUP BY rule ORDER BY rule) r" 2>/dev/null ||
  echo "?")
echo "   zdm.lint findings: $findings; squawk issues: $(grep -c ': warning: \|: error: ' "$WORK/squawk.out" || true)"
zdm_ns=$(median <"$WORK/zdm.ns"); squawk_ns=$(median <"$WORK/squawk.ns")
awk -v n="$STATEMENTS" -v z="$zdm_ns" -v s="$squawk_ns" 'BEGIN {
  printf "   zdm.lint: median %.1f ms, %.0f statements/s\n", z / 1e6, n / (z / 1e9);
  printf "   squawk:   median %.1f ms, %.0f statements/s\n", s / 1e6, n / (s / 1e9);
  printf "   ratio zdm/squawk (statements/s): %.2f (goal >= 2)\n", s / z;
}'
