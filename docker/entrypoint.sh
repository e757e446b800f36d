#!/bin/bash
# The official image's contract, for what pgdrill uses: initdb on an empty PGDATA (UTF8, C.UTF-8,
# data checksums, POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB), password auth over TCP, then
# `postgres` with the container's arguments, as the postgres user. An existing PGDATA (PG_VERSION
# present) is never touched: that is how a restored data directory is started.
set -euo pipefail
if [ "${1:-postgres}" = postgres ] || [ "${1:0:1}" = - ]; then
  [ "${1:-}" = postgres ] && shift
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" \
      --encoding=UTF8 --locale=C.UTF-8 --data-checksums --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != "${POSTGRES_USER:-postgres}" ]; then
      postgres --single -D "$PGDATA" postgres <<< "CREATE DATABASE \"$POSTGRES_DB\";" >/dev/null
    fi
    echo "PostgreSQL init process complete; ready for start up."
  fi
  exec postgres "$@"
fi
exec "$@"
