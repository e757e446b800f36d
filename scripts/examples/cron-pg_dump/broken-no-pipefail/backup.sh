#!/usr/bin/env bash
# Sabotaged: the same cron job without pipefail, and pg_dump pointed at a port nothing listens on (a moved
# server, a stale .pgpass). pg_dump fails, gzip writes an empty stream, the pipeline exits 0: "backup OK".
set -eu
dir=$PGDRILL_BACKUP_DIR
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"
run() {
  if [ -n "${PGDRILL_CONTAINER:-}" ]; then
    docker exec -i -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$PGDRILL_CONTAINER" "$@"
  else
    "$@"
  fi
}
stamp=$(date -u +%Y%m%d-%H%M%S)
run pg_dumpall --globals-only > "$dir/globals-$stamp.sql"
run pg_dump -p 1 -d "$PGDATABASE" | gzip > "$dir/$PGDATABASE-$stamp.sql.gz"
