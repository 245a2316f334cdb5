#!/usr/bin/env bash
# make run: build and install zdm, start a scratch PostgreSQL 15 with zdm preloaded under ./.run
# (server 'demo', port 55499 or $ZDM_PORT), run the demo (scripts/demo.sql), and say how to connect
# and how to stop the server. Re-running it starts over with a fresh cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

PORT=${ZDM_PORT:-55499}

echo "== building and installing zdm"
build_and_install

echo "== starting PostgreSQL 15 (server 'demo', port $PORT) under $RUN_DIR"
if ! start_server demo "$PORT" "shared_preload_libraries = 'zdm'"; then
  echo "could not start the demo server; its log:"
  cat "$RUN_DIR/demo.log" 2>/dev/null || true
  exit 1
fi
SOCKET_DIR=$(readlink -f "$RUN_DIR")
DATA_DIR=$SOCKET_DIR/demo

echo "== demo (scripts/demo.sql)"
echo
"$PG_BINDIR/psql" -X -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres \
  -v ON_ERROR_STOP=1 -f scripts/demo.sql

stop_cmd="$PG_BINDIR/pg_ctl -D $DATA_DIR stop"
[ "$(id -u)" -eq 0 ] && stop_cmd="runuser -u postgres -- $stop_cmd"
cat <<MSG

The demo server is still running, with zdm preloaded (shared_preload_libraries = 'zdm').
  connect:  psql -h $SOCKET_DIR -p $PORT -U postgres postgres
  try:      SET zdm.mode = strict;  ALTER TABLE accounts ALTER COLUMN id TYPE bigint;
  log:      $RUN_DIR/demo.log
  stop:     $stop_cmd
MSG
