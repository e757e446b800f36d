#!/usr/bin/env bash
# Put the newest base backup back into the stopped server's empty data directory and ask for archive
# recovery (recovery.signal; recovery_target_time when PGDRILL_TARGET_TIME is set). restore_command comes
# from the restore_command file beside this script (the gate appends it to postgresql.auto.conf).
#   restore.sh --mode physical --backup latest|PATH   (PGDRILL_BACKUP_PATH, when set, names the backup)
set -Eeuo pipefail
die() { echo "restore.sh: $*" >&2; exit 1; }
mode= backup=latest
while [ $# -gt 0 ]; do
  case "$1" in --mode) mode=$2; shift 2;; --backup) backup=$2; shift 2;; *) die "unknown argument $1";; esac
done
[ "$mode" = physical ] || die "this set takes base backups only: --mode $mode is not something it can restore"
dir=${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory}
if [ "$backup" = latest ]; then
  base=${PGDRILL_BACKUP_PATH:-$(ls -1d "$dir"/base-* 2>/dev/null | sort | tail -n 1)}
else
  base=$backup
fi
[ -f "$base/PG_VERSION" ] || die "no base backup found in $dir"
staged=$(mktemp -d)  # 0700: a production copy
trap 'rm -rf "$staged"' EXIT
cp -a "$base/." "$staged/"
touch "$staged/recovery.signal"
if [ -n "${PGDRILL_TARGET_TIME:-}" ]; then
  printf "recovery_target_time = '%s'\nrecovery_target_action = 'promote'\n" "$PGDRILL_TARGET_TIME" \
    >> "$staged/postgresql.auto.conf"
fi
owner=${PGDRILL_SERVER_OWNER:?PGDRILL_SERVER_OWNER must name uid:gid of the server}
if [ -n "${PGDRILL_CONTAINER:-}" ]; then  # into the stopped container's data directory, through the engine
  tar -C "$staged" -c --owner="${owner%%:*}" --group="${owner##*:}" . \
    | docker cp - "$PGDRILL_CONTAINER:${PGDRILL_CONTAINER_DATA_DIR:?}"
else
  data=${PGDRILL_DATA_DIR:?PGDRILL_DATA_DIR must name the data directory of the stopped server}
  [ -z "$(ls -A "$data")" ] || die "$data is not empty"
  cp -a "$staged/." "$data/"
  chown -R "$owner" "$data"
  chmod 700 "$data"
fi
echo "restored $base"
