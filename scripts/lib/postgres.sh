# Sourced by scripts/test and scripts/bench/*: a throwaway PostgreSQL 15 on loopback, in a temporary
# directory, stopped and deleted by `stop_postgres`. Needs root (it runs the server as `postgres`).
# Sets PG_URL (superuser, database `postgres`) and PG_PORT.

PG_BIN=/usr/lib/postgresql/15/bin

pg_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_postgres() {
  PG_DIR=$(mktemp -d /tmp/malha-pg.XXXXXX)
  chown postgres:postgres "$PG_DIR"
  PG_PORT=$(pg_free_port)
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust >/dev/null
  # Durable settings (fsync, synchronous commit): tests and benchmarks measure what production gets.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on -c synchronous_commit=on -c max_connections=300" \
    start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# create_database NAME: a new database on the throwaway server; prints its URL.
create_database() {
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE $1" >/dev/null
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
