#!/usr/bin/env bash
# verify.sh - pgBackRest's own verification of the repository (every backup's files against their checksums, the
# archive's segments), and that the set the gate found ($PGDRILL_BACKUP_PATH) is one pgBackRest lists.
set -Eeuo pipefail
trap 'echo "verify.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR
: "${PGDRILL_BACKUP_PATH:?}"
source "$(dirname "$0")/common.sh"
pgbr verify >&2
label=$(basename "$PGDRILL_BACKUP_PATH")
pgbr info --set="$label" | grep -q "$label" || { echo "verify.sh: pgbackrest info does not list $label" >&2; exit 1; }
echo "pgbackrest verify: ok; $label listed by pgbackrest info"
