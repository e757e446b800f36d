#!/usr/bin/env bash
# restore.sh --mode physical --backup PATH
# Stop WAL streaming, archive what was streamed (incl. the last .partial
# segment), and `barman recover` into the empty $PGDRILL_DATA_DIR so that a
# plain `pg_ctl start` does archive recovery without barman (restore_command =
# cp from <datadir>/barman_wal, which PostgreSQL deletes at recovery end).
set -Eeuo pipefail
trap 'echo "restore.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2' ERR

mode= backup=
while (($#)); do
  case $1 in
    --mode) mode=$2; shift 2 ;;
    --backup) backup=$2; shift 2 ;;
    *) echo "restore.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $mode == physical ]] || { echo "restore.sh: only --mode physical is supported" >&2; exit 2; }
: "${PGDRILL_BACKUP_DIR:?}" "${PGDRILL_DATA_DIR:?}" "${PGDRILL_SERVER_OWNER:?}"

BARMAN=${BARMAN:-/opt/pgdrill/barman/bin/barman}  # bash scripts/examples/barman/install.sh installs it there
SERVER=pgdrill
[[ -x $BARMAN ]] || { echo "${0##*/}: no barman at $BARMAN: run bash scripts/examples/barman/install.sh (or set BARMAN)" >&2; exit 1; }
[[ -z ${PGDRILL_CONTAINER:-} ]] || { echo "${0##*/}: this set runs on the local backend only (barman streams with" \
  "the host's pg_receivewal and recovers with rsync into a data directory on this host)" >&2; exit 1; }
B="$PGDRILL_BACKUP_DIR/barman"
CONF="$B/barman.conf"
bm() { "$BARMAN" -c "$CONF" "$@"; }

# 1. Stop the background receive-wal (barman + its pg_receivewal child).
#    SIGTERM makes pg_receivewal flush the current .partial segment.
bm receive-wal --stop "$SERVER" >&2 || true
if [[ -f $B/receive-wal.pid ]]; then
  pid=$(cat "$B/receive-wal.pid")
  pkill -TERM -P "$pid" 2>/dev/null || true   # its pg_receivewal child
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$B/receive-wal.pid"
fi

# 2. Move completed segments from streaming/ to wals/ (normally `barman cron`
#    does this). archive-wal always leaves the newest file in streaming/: the
#    .partial if there is one, else the newest FULL segment (the usual case
#    right after pg_switch_wal() on an idle server) - which recover would then
#    miss. So rename such a trailing full segment to .partial: --partial-wal
#    below copies "<next segment after wals/>.partial" with the suffix stripped.
S="$B/home/$SERVER/streaming"
if ! compgen -G "$S/*.partial" >/dev/null; then
  last=
  for f in "$S"/*; do if [[ ${f##*/} =~ ^[0-9A-F]{24}$ ]]; then last=$f; fi; done  # sorted glob
  if [[ -n $last ]]; then mv "$last" "$last.partial"; fi
fi
bm archive-wal "$SERVER" >&2

# 3. Which backup: PATH is .../base/<backup_id>[/data]; else "latest".
id=latest
if [[ -n $backup ]]; then
  cand=${backup%/}; cand=${cand%/data}
  cand=${cand##*/}
  if bm show-backup "$SERVER" "$cand" >/dev/null 2>&1; then id=$cand
  else echo "restore.sh: '$backup' is not a barman backup; using latest" >&2; fi
fi

# 4. Recover. A target (time, or else tli=latest) puts barman in "PITR mode":
#    WAL goes to <datadir>/barman_wal, recovery.signal + restore_command='cp ...'
#    -> real archive recovery to end of WAL, then promotion to a new timeline.
args=(--no-get-wal --partial-wal)
if [[ -n ${PGDRILL_TARGET_TIME:-} ]]; then
  # PostgreSQL's default target action is pause: force promote.
  args+=(--target-time "$PGDRILL_TARGET_TIME" --target-action promote)
else
  args+=(--target-tli latest)
fi
bm recover "${args[@]}" "$SERVER" "$id" "$PGDRILL_DATA_DIR" >&2

# 5. barman recover disables archiving on the recovered server (it comments the setting out as
#    "#BARMAN#archive_command = ..." and appends "archive_command = false"). A recovered primary must archive
#    again, or the next disaster loses everything since this one: put the backup's own setting back.
for conf in "$PGDRILL_DATA_DIR"/postgresql.auto.conf "$PGDRILL_DATA_DIR"/postgresql.conf; do
  [[ -f $conf ]] && sed -i -e '/^archive_command = false$/d' -e 's/^#BARMAN#archive_command/archive_command/' "$conf"
done

chown -R "$PGDRILL_SERVER_OWNER" "$PGDRILL_DATA_DIR"
chmod 0700 "$PGDRILL_DATA_DIR"
echo "restore.sh: recovered backup $id into $PGDRILL_DATA_DIR" >&2
