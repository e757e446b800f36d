# common.sh - sourced by this set's scripts: where pgBackRest's config, repository, logs and locks live (all under
# $PGDRILL_BACKUP_DIR/pgbackrest, owned by the server's OS user, as whom every pgbackrest command runs), and `pgbr`.
: "${PGDRILL_BACKUP_DIR:?}" "${PGDRILL_SERVER_OWNER:?}"
PGBACKREST=${PGBACKREST:-/usr/bin/pgbackrest}   # bash scripts/examples/pgbackrest/install.sh installs it there
STANZA=pgdrill
B="$PGDRILL_BACKUP_DIR/pgbackrest"
CONF="$B/pgbackrest.conf"
OWNER_UID=${PGDRILL_SERVER_OWNER%%:*}
OWNER_GID=${PGDRILL_SERVER_OWNER##*:}
[[ -x $PGBACKREST ]] || { echo "${0##*/}: no pgbackrest at $PGBACKREST: run bash scripts/examples/pgbackrest/install.sh" >&2; exit 1; }
[[ -z ${PGDRILL_CONTAINER:-} ]] || { echo "${0##*/}: this set runs on the local backend only (pgBackRest reads the" \
  "data directory on this host)" >&2; exit 1; }
# every command as the server's OS user (the owner of the repository and of the data directory); PGPASSWORD and the
# other libpq variables stay in the environment, never in argv or in the config file
as_owner() {
  if [[ $(id -u) == "$OWNER_UID" ]]; then "$@"
  else setpriv --reuid="$OWNER_UID" --regid="$OWNER_GID" --clear-groups "$@"
  fi
}
pgbr() { as_owner "$PGBACKREST" --config="$CONF" --stanza="$STANZA" "$@"; }
