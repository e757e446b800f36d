#!/usr/bin/env bash
# backup.sh - configure Barman for the drill server, start WAL streaming
# (left running in THIS process group), and take a base backup.
# stdout: the backup directory (last line). Barman chatter goes to stderr.
set -Eeuo pipefail
trap 'echo "backup.sh: FAILED (line $LINENO: $BASH_COMMAND)" >&2; cleanup_on_error' ERR

: "${PGHOST:?}" "${PGPORT:?}" "${PGUSER:?}" "${PGPASSWORD:?}" "${PGDATABASE:?}"
: "${PGDRILL_BACKUP_DIR:?}" "${PGDRILL_BINDIR:?}" "${PGDRILL_SERVER_OWNER:?}"

BARMAN=${BARMAN:-/opt/pgdrill/barman/bin/barman}  # bash scripts/examples/barman/install.sh installs it there
SERVER=pgdrill
[[ -x $BARMAN ]] || { echo "${0##*/}: no barman at $BARMAN: run bash scripts/examples/barman/install.sh (or set BARMAN)" >&2; exit 1; }
[[ -z ${PGDRILL_CONTAINER:-} ]] || { echo "${0##*/}: this set runs on the local backend only (barman streams with" \
  "the host's pg_receivewal and recovers with rsync into a data directory on this host)" >&2; exit 1; }
B="$PGDRILL_BACKUP_DIR/barman"          # ALL barman state lives here
CONF="$B/barman.conf"
OWNER_UID=${PGDRILL_SERVER_OWNER%%:*}
OWNER_GID=${PGDRILL_SERVER_OWNER##*:}
# barman, started as root, setuid()s itself to barman_user (needs a name).
OWNER_NAME=$(getent passwd "$OWNER_UID" | cut -d: -f1)
[[ -n $OWNER_NAME ]] || { echo "backup.sh: no user with uid $OWNER_UID" >&2; exit 1; }

bm() { "$BARMAN" -c "$CONF" "$@"; }
RW_PID= KICK=
cleanup_on_error() {   # don't leave a receive-wal (or the WAL kicker) behind
  if [[ -n $KICK ]]; then kill "$KICK" 2>/dev/null || true; fi
  if [[ -n $RW_PID ]]; then bm receive-wal --stop "$SERVER" >&2 || true; fi
}

umask 077
mkdir -p "$B/home" "$B/log"
# libpq password file (0600): password never appears in argv or barman.conf.
# Escape '\' and ':' as .pgpass requires; '*' db matches 'replication' too.
pw=${PGPASSWORD//\\/\\\\}; pw=${pw//:/\\:}
printf '%s:%s:*:%s:%s\n' "$PGHOST" "$PGPORT" "$PGUSER" "$pw" > "$B/pgpass"
unset pw
ci="host=$PGHOST port=$PGPORT user=$PGUSER passfile='$B/pgpass'"
cat > "$CONF" <<EOF
[barman]
barman_user = $OWNER_NAME
barman_home = $B/home
log_file = $B/log/barman.log
log_level = INFO
cloud_staging_directory = $B/cloud-staging
minimum_redundancy = 0

[$SERVER]
description = pgdrill DR test server
conninfo = $ci dbname=$PGDATABASE
streaming_conninfo = $ci
backup_method = postgres
streaming_archiver = on
archiver = off
slot_name = barman_$SERVER
create_slot = auto
path_prefix = $PGDRILL_BINDIR
EOF
chown -R "$OWNER_UID:$OWNER_GID" "$B"
# barman (as $OWNER_NAME) must be able to reach $B through the parent dirs.
if ! setpriv --reuid="$OWNER_UID" --regid="$OWNER_GID" --clear-groups test -w "$B/home"; then
  echo "backup.sh: $B not writable by $OWNER_NAME (check parent dir perms)" >&2; exit 1
fi

# A receive-wal left over from an earlier run with this dir would make ours exit.
bm receive-wal --stop "$SERVER" >&2 || true
bm receive-wal --create-slot --if-not-exists "$SERVER" >&2
# Background WAL streamer. No setsid/nohup: it stays in our process group so
# the suite can killpg() it; stdio detached so it doesn't hold the suite's pipes.
( trap - ERR; exec "$BARMAN" -c "$CONF" receive-wal "$SERVER" ) </dev/null >>"$B/log/receive-wal.log" 2>&1 &
RW_PID=$!
echo "$RW_PID" > "$B/receive-wal.pid"

# Wait until the server shows pg_receivewal's walsender as streaming.
psql_q() { "$PGDRILL_BINDIR/psql" -XAtq -c "$1" 2>/dev/null || true; }  # no ERR trap in $(..)
for i in $(seq 60); do
  kill -0 "$RW_PID" 2>/dev/null || { cat "$B/log/receive-wal.log" >&2; false; }
  [[ $(psql_q "select count(*) from pg_stat_replication where application_name = 'barman_receive_wal' and state = 'streaming'") == 1 ]] && break
  ((i < 60)) || { echo "backup.sh: receive-wal not streaming after 30s" >&2; false; }
  sleep 0.5
done
# Prove the streaming archive works: force a segment and wait for it in wals/.
# barman's archiver always keeps the newest full segment in streaming/ until
# the next one is started, so on an idle server the wait lasts until some WAL
# is written (<=15s). Write a tiny transaction per second meanwhile.
while sleep 1; do psql_q 'select txid_current()' >/dev/null; done &
KICK=$!
bm switch-wal --force --archive --archive-timeout 60 "$SERVER" >&2
kill "$KICK"; KICK=
bm check "$SERVER" >&2
bm backup --wait --wait-timeout 300 "$SERVER" >&2

id=$(bm list-backups --minimal "$SERVER" | awk 'NR == 1')   # newest first
echo "$B/home/$SERVER/base/$id"
