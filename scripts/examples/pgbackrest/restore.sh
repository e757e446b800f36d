#!/usr/bin/env bash
# restore.sh --mode physical --backup latest|PATH: `pgbackrest restore` of the set the gate found
# ($PGDRILL_BACKUP_PATH) into the stopped server's empty data directory; pgBackRest writes recovery.signal and its
# restore_command; for PITR, --type=time --target=$PGDRILL_TARGET_TIME --target-action=promote.
set -Eeuo pipefail
trap 'echo "restore.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR
mode= backup=latest
while (($#)); do
  case $1 in --mode) mode=$2; shift 2 ;; --backup) backup=$2; shift 2 ;; *) echo "restore.sh: unknown argument $1" >&2; exit 2 ;; esac
done
[[ $mode == physical ]] || { echo "restore.sh: pgBackRest takes physical backups only: --mode $mode" >&2; exit 2; }
: "${PGDRILL_DATA_DIR:?}"
source "$(dirname "$0")/common.sh"
chosen=()  # the set the gate found; without one, pgBackRest's default: the latest
if [[ -n ${PGDRILL_BACKUP_PATH:-} || $backup != latest ]]; then chosen=("--set=$(basename "${PGDRILL_BACKUP_PATH:-$backup}")"); fi
target=()
if [[ -n ${PGDRILL_TARGET_TIME:-} ]]; then
  target=(--type=time "--target=$PGDRILL_TARGET_TIME" --target-action=promote)
fi
[[ -z $(ls -A "$PGDRILL_DATA_DIR") ]] || { echo "restore.sh: $PGDRILL_DATA_DIR is not empty" >&2; exit 1; }
pgbr restore "${chosen[@]}" "${target[@]}" >&2
echo "restored ${chosen[*]:-the latest set}"
