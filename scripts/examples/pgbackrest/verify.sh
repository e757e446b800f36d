#!/usr/bin/env bash
# verify.sh - pgBackRest's own verification of the repository (every backup's files against their checksums, the
# archive's segments: status ok, the set the gate found valid), and that pgBackRest lists that set.
set -Eeuo pipefail
trap 'echo "verify.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR
: "${PGDRILL_BACKUP_PATH:?}"
source "$(dirname "$0")/common.sh"
label=$(basename "$PGDRILL_BACKUP_PATH")
# verify's exit status says only that it ran: its report's status lines are the verdict
report=$(pgbr verify --output=text --verbose)
grep -q "^status: ok" <<<"$report" || { echo "verify.sh: pgbackrest verify: $report" >&2; exit 1; }
grep -q "backup: $label, status: valid" <<<"$report" \
  || { echo "verify.sh: pgbackrest verify does not find $label valid: $report" >&2; exit 1; }
pgbr info --set="$label" | grep -q "$label" || { echo "verify.sh: pgbackrest info does not list $label" >&2; exit 1; }
echo "pgbackrest verify: status ok, $label valid; listed by pgbackrest info"
