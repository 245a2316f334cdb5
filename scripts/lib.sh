#!/usr/bin/env bash
# Shared helpers for scripts/: where PostgreSQL lives and how to run a scratch server.
# PostgreSQL refuses to run as root, so when we are root the server runs as the 'postgres' user
# and every client (psql, pg_regress, pg_isolation_regress) runs as us over a Unix socket.

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/..
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=$ROOT/.run

as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server's files must be reachable by the user it runs as. If the checkout sits where the postgres
# user cannot go (e.g. under /root), .run is a link to a directory in /tmp.
prepare_run_dir() {
  if [ ! -e "$RUN_DIR" ]; then
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$ROOT"; then
      local alt
      alt=$(mktemp -d /tmp/zdm-run.XXXXXX)
      ln -s "$alt" "$RUN_DIR"
    else
      mkdir -p "$RUN_DIR"
    fi
  fi
  [ "$(id -u)" -eq 0 ] && chown postgres: "$(readlink -f "$RUN_DIR")"
  return 0
}

# start_server NAME PORT [extra postgresql.conf lines...]: a fresh cluster under .run/NAME.
start_server() {
  local name=$1 port=$2; shift 2
  local data=$RUN_DIR/$name
  prepare_run_dir
  stop_server "$name"
  rm -rf "$data"
  as_server mkdir -p "$data"
  as_server "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$RUN_DIR/$name.initdb.log"
  {
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$(readlink -f "$RUN_DIR")'"
    echo "fsync = off"
    echo "max_connections = 300"
    echo "log_line_prefix = '%m [%p] %q%a '"
    for line in "$@"; do echo "$line"; done
  } | as_server tee -a "$data/postgresql.conf" >/dev/null
  as_server "$PG_BINDIR/pg_ctl" -D "$data" -l "$RUN_DIR/$name.log" -w -t 60 start >/dev/null
}

stop_server() {
  local data=$RUN_DIR/$1
  if [ -f "$data/postmaster.pid" ]; then
    as_server "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}

# Builds and installs the extension into the server's directories.
build_and_install() {
  local sudo=""
  [ -w "$("$PG_CONFIG" --pkglibdir)" ] || sudo="sudo"
  make -C "$ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
  $sudo make -C "$ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}
