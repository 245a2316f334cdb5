#!/usr/bin/env bash
# make test: build, install, then run every suite against real PostgreSQL 15 servers.
# Suites: unit (GoogleTest via ctest), regress (pg_regress), isolation (pg_isolation_regress),
# tap (PostgreSQL::Test::Cluster). Every suite runs even when an earlier one fails; the exit code
# is non-zero when any failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

TEST_PORT=${ZDM_TEST_PORT:-55432}
passed=0; failed=0; failed_names=()
suite() {
  local name=$1; shift
  echo "=== suite: $name"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok"
  else failed=$((failed + 1)); failed_names+=("$name"); echo "=== $name: FAILED"; fi
}

build_and_install || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

suite unit bash scripts/unit.sh

# One server for pg_regress and isolation, with the library preloaded (the recommended set-up).
# The loading modes without preload are covered by TAP.
start_server test "$TEST_PORT" \
  "shared_preload_libraries = 'zdm'" \
  "max_prepared_transactions = 10" \
  "max_worker_processes = 16" \
  "autovacuum = off" \
  || { echo "could not start the test server"; cat "$RUN_DIR/test.log"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
export PGHOST=$(readlink -f "$RUN_DIR") PGPORT=$TEST_PORT PGUSER=postgres

# A hung suite must fail, not eat CI's whole budget: each suite gets SUITE_TIMEOUT seconds, and on
# expiry the sessions still there are printed (what each waits for) before the suite is failed.
SUITE_TIMEOUT=${ZDM_SUITE_TIMEOUT:-900}
bounded() {
  timeout -k 20 "$SUITE_TIMEOUT" "$@"
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "!!! timed out after ${SUITE_TIMEOUT}s: $*"
    "$PG_BINDIR/psql" -X -d postgres -c "SELECT pid, backend_type, state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE pid <> pg_backend_pid()" 2>&1 | head -60
  fi
  return $rc
}
regress() {
  if [ -n "$(ls sql/*.sql 2>/dev/null)" ]; then
    bounded make -s installcheck ISOLATION= PG_CONFIG="$PG_CONFIG" || { cat regression.diffs 2>/dev/null | head -300; return 1; }
  fi
}
isolation() {
  if [ -n "$(ls test/isolation/specs/*.spec 2>/dev/null)" ]; then
    bounded make -s installcheck REGRESS= PG_CONFIG="$PG_CONFIG" || { cat output_iso/regression.diffs 2>/dev/null | head -300; return 1; }
  fi
}
suite regress regress
suite isolation isolation
stop_server test

tap() {
  local tests=(test/tap/t/*.pl)
  [ -e "${tests[0]}" ] || return 0
  # PGXS_DIR is .../lib/pgxs/src: the Perl test modules are in its test/perl.
  local perl_lib
  perl_lib=$(cd "$PGXS_DIR/test/perl" && pwd) || { echo "PostgreSQL::Test modules not found under $PGXS_DIR"; return 1; }
  # The server refuses to run as root, so prove runs as the server's user, in a directory it owns.
  local tapdir=$RUN_DIR/tap
  rm -rf "$tapdir"; as_server mkdir -p "$tapdir"
  local as=()
  [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
  (cd "$tapdir" && bounded "${as[@]}" env PATH="$PG_BINDIR:$PATH" TESTDIR="$tapdir" \
    PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" ZDM_ROOT="$ROOT" \
    prove ${TAP_VERBOSE:+-v} -I "$perl_lib" -I "$ROOT/test/tap" "${tests[@]/#/$ROOT/}")
  local rc=$?
  [ $rc -eq 0 ] || { for f in "$tapdir"/tmp_check/log/*; do echo "--- $f"; tail -50 "$f"; done 2>/dev/null; }
  return $rc
}
suite tap tap

echo
if [ $failed -gt 0 ]; then echo "failed suites: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
