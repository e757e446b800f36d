#!/usr/bin/env bash
# backup.sh - a full backup, a little more WAL, then an incremental one on top of it (the restore needs both).
# stdout: the newest backup set's directory (last line). pgBackRest's words go to stderr.
set -Eeuo pipefail
trap 'echo "backup.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR
: "${PGHOST:?}" "${PGPORT:?}" "${PGUSER:?}" "${PGPASSWORD:?}" "${PGDRILL_BINDIR:?}"
source "$(dirname "$0")/common.sh"
pgbr check >&2
pgbr backup --type=full >&2
"$PGDRILL_BINDIR/psql" -XAtq -d postgres -c "select pg_switch_wal()" >/dev/null
pgbr backup --type=incr >&2
set=$(pgbr info --output=json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["backup"][-1]["label"])')
echo "$B/repo/backup/$STANZA/$set"
