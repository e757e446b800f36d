#!/usr/bin/env bash
# setup.sh - run by the gate before archiving is configured: refuse a server pgBackRest 2.45 does not support, write
# the config (repository, logs, locks under $PGDRILL_BACKUP_DIR/pgbackrest) and create the stanza.
set -Eeuo pipefail
trap 'echo "setup.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR
: "${PGHOST:?}" "${PGPORT:?}" "${PGUSER:?}" "${PGDRILL_BINDIR:?}" "${PGDRILL_DATA_DIR:?}"
source "$(dirname "$0")/common.sh"
version=$("$PGDRILL_BINDIR/psql" -XAtq -d postgres -c "show server_version_num")
if (( version >= 160000 )); then
  echo "setup.sh: pgBackRest $("$PGBACKREST" version | awk '{print $2}') supports PostgreSQL up to 15, and this" \
    "server is ${version:0:2}: run the gate with --pg-bindir /usr/lib/postgresql/15/bin" >&2
  exit 1
fi
umask 077
mkdir -p "$B/repo" "$B/log" "$B/lock" "$B/spool"
cat > "$CONF" <<CONF
[global]
repo1-path=$B/repo
repo1-retention-full=2
log-path=$B/log
lock-path=$B/lock
spool-path=$B/spool
log-level-console=warn
log-level-file=info
start-fast=y
compress-type=gz

[$STANZA]
pg1-path=$PGDRILL_DATA_DIR
pg1-port=$PGPORT
pg1-user=$PGUSER
CONF
chown -R "$OWNER_UID:$OWNER_GID" "$B"
pgbr stanza-create >&2
