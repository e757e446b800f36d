#!/usr/bin/env bash
# pgdrill's reference restore script, as the runbook's test procedure calls it:
#   restore.sh --mode logical|physical --backup latest|PATH [--target CONTAINER]
#
# logical:  roles from globals.sql, DROP DATABASE ... WITH (FORCE), CREATE DATABASE, pg_restore --exit-on-error
#           into the running server (PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE; in CONTAINER with docker exec).
# physical: base.tar.gz into the stopped server's empty data directory $PGDRILL_DATA_DIR, pg_wal.tar.gz into
#           its pg_wal/, recovery.signal, and restore_command (archive $PGDRILL_ARCHIVE_LOCATION as the server sees
#           it) plus recovery_target_time=$PGDRILL_TARGET_TIME when set, appended to postgresql.auto.conf;
#           owned by $PGDRILL_SERVER_OWNER (uid:gid). The caller starts the server.
# "latest" is the newest complete set under $PGDRILL_BACKUP_DIR. Exit non-zero, with a message, on any error.
set -Eeuo pipefail
die() { echo "restore.sh: $*" >&2; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

mode= backup= target=${PGDRILL_CONTAINER:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode=$2; shift 2;;
    --backup) backup=$2; shift 2;;
    --target) target=$2; shift 2;;
    *) die "unknown argument $1";;
  esac
done
case "$mode" in logical|physical) ;; *) die "--mode must be logical or physical";; esac
[ -n "$backup" ] || die "--backup latest|PATH is required"
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"
if [ "$backup" = latest ]; then
  : "${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory for --backup latest}"
  backup=$(ls -1d "$PGDRILL_BACKUP_DIR"/*/ 2>/dev/null | grep -v '\.partial/$' | sort | tail -n 1)
  [ -n "$backup" ] || die "no backup set in $PGDRILL_BACKUP_DIR"
fi
backup=${backup%/}
[ -d "$backup" ] || die "$backup is not a backup set directory"

run() {
  if [ -n "$target" ]; then
    docker exec -i -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$target" "$@"
  else
    "$@"
  fi
}

if [ "$mode" = logical ]; then
  : "${PGDATABASE:?PGDATABASE must name the database}"
  dump="$backup/$PGDATABASE.dump"
  [ -s "$dump" ] || die "no non-empty $dump"
  if [ -f "$backup/globals.sql" ]; then
    errors=$(run psql -X -q -d postgres < "$backup/globals.sql" 2>&1 | grep ERROR | grep -v 'already exists' || true)
    [ -z "$errors" ] || die "restoring roles failed: $errors"
  fi
  run psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$PGDATABASE\" WITH (FORCE)"
  run psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$PGDATABASE\""
  run pg_restore --exit-on-error -d "$PGDATABASE" < "$dump"
else
  : "${PGDRILL_DATA_DIR:?PGDRILL_DATA_DIR must name the data directory of the stopped server}"
  : "${PGDRILL_ARCHIVE_LOCATION:?PGDRILL_ARCHIVE_LOCATION must name the WAL archive as the server sees it}"
  base="$backup/base"
  [ -s "$base/base.tar.gz" ] || die "no $base/base.tar.gz"
  [ -z "$(ls -A "$PGDRILL_DATA_DIR")" ] || die "$PGDRILL_DATA_DIR is not empty"
  tar -xzf "$base/base.tar.gz" -C "$PGDRILL_DATA_DIR"
  if [ -f "$base/pg_wal.tar.gz" ]; then
    mkdir -p "$PGDRILL_DATA_DIR/pg_wal"
    tar -xzf "$base/pg_wal.tar.gz" -C "$PGDRILL_DATA_DIR/pg_wal"
  fi
  touch "$PGDRILL_DATA_DIR/recovery.signal"
  {
    echo "restore_command = 'cp $PGDRILL_ARCHIVE_LOCATION/%f %p'"
    if [ -n "${PGDRILL_TARGET_TIME:-}" ]; then
      echo "recovery_target_time = '$PGDRILL_TARGET_TIME'"
      echo "recovery_target_action = 'promote'"
    fi
  } >> "$PGDRILL_DATA_DIR/postgresql.auto.conf"
  [ -n "${PGDRILL_SERVER_OWNER:-}" ] && chown -R "$PGDRILL_SERVER_OWNER" "$PGDRILL_DATA_DIR"
  chmod 700 "$PGDRILL_DATA_DIR"
fi
echo "restored $mode backup $backup"
