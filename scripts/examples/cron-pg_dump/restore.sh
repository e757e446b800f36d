#!/usr/bin/env bash
# Restore the newest nightly dump: roles first, then the database recreated and the SQL replayed with
# ON_ERROR_STOP (a plain dump restored without it reports errors and still exits 0).
#   restore.sh --mode logical --backup latest|PATH   (PGDRILL_BACKUP_PATH, when set, names the dump)
set -Eeuo pipefail
die() { echo "restore.sh: $*" >&2; exit 1; }
mode= backup=latest
while [ $# -gt 0 ]; do
  case "$1" in --mode) mode=$2; shift 2;; --backup) backup=$2; shift 2;; *) die "unknown argument $1";; esac
done
[ "$mode" = logical ] || die "this set takes dumps only: --mode $mode is not something it can restore"
dir=${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory}
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"
run() {
  if [ -n "${PGDRILL_CONTAINER:-}" ]; then
    docker exec -i -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$PGDRILL_CONTAINER" "$@"
  else
    "$@"
  fi
}
if [ "$backup" = latest ]; then
  dump=${PGDRILL_BACKUP_PATH:-$(ls -1t "$dir"/*.sql.gz 2>/dev/null | head -n 1)}
else
  dump=$backup
fi
[ -s "$dump" ] || die "no dump found in $dir"
globals=$(ls -1t "$(dirname "$dump")"/globals-*.sql 2>/dev/null | head -n 1)
if [ -n "$globals" ]; then  # roles that already exist (the superuser) report "already exists": not an error here
  errors=$(run psql -X -q -d postgres < "$globals" 2>&1 | grep ERROR | grep -v 'already exists' || true)
  [ -z "$errors" ] || die "restoring roles failed: $errors"
fi
run psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$PGDATABASE\" WITH (FORCE)"
run psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$PGDATABASE\""
gunzip -c "$dump" | run psql -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" > /dev/null
echo "restored $dump"
