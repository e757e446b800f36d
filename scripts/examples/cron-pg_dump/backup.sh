#!/usr/bin/env bash
# A nightly cron backup as teams write it: pg_dump piped through gzip into one flat directory, the roles
# (pg_dumpall --globals-only) beside it, no manifest, no subdirectories. Old files would be pruned by age.
set -Eeuo pipefail  # pipefail: without it a failing pg_dump still leaves a valid, empty .sql.gz and exit 0
dir=${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory}
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"
run() {  # client tools on this host, or inside the server's container (the docker backend)
  if [ -n "${PGDRILL_CONTAINER:-}" ]; then
    docker exec -i -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$PGDRILL_CONTAINER" "$@"
  else
    "$@"
  fi
}
stamp=$(date -u +%Y%m%d-%H%M%S)
run pg_dumpall --globals-only > "$dir/globals-$stamp.sql"
run pg_dump -d "${PGDATABASE:?}" | gzip > "$dir/.$PGDATABASE-$stamp.sql.gz"
mv "$dir/.$PGDATABASE-$stamp.sql.gz" "$dir/$PGDATABASE-$stamp.sql.gz"  # complete files only under the real name
