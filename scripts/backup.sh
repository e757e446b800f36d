#!/usr/bin/env bash
# pgdrill's reference backup script: the runbook's backups, made real and checkable.
#
# Writes one backup set into $PGDRILL_BACKUP_DIR/<UTC timestamp>/:
#   globals.sql             pg_dumpall --globals-only (roles are not in pg_dump)
#   <database>.dump         pg_dump -Fc
#   base/                   pg_basebackup -Ft -z -P --checkpoint=fast (base.tar.gz, pg_wal.tar.gz, backup_manifest)
#   manifest.json           database, start/end time and LSN, server version, bytes and sha256 of every file,
#                           row counts and content hashes of the tables
# Contract (environment): PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE: the server to back up;
#   PGDRILL_BACKUP_DIR: where to write; PGDRILL_CONTAINER: when set, the client tools run inside that
#   container with docker exec (the runbook's form); PGDRILL_BINDIR: client tools' directory (optional).
# Usage: backup.sh [--logical-only | --physical-only] (without an argument, PGDRILL_BACKUP_KIND=logical|physical
# picks one, as the gate sets it; otherwise both). Exit non-zero, with a message on stderr, on any error.
set -Eeuo pipefail
partial=
die() { echo "backup.sh: $*" >&2; [ -n "$partial" ] && rm -rf "$partial"; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

: "${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory}"
: "${PGDATABASE:?PGDATABASE must name the database}"
mode=${1:-all}
[ "$mode" = all ] && [ -n "${PGDRILL_BACKUP_KIND:-}" ] && mode="--$PGDRILL_BACKUP_KIND-only"
case "$mode" in all|--logical-only|--physical-only) ;; *) die "unknown argument $mode";; esac
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"

run() {  # a client tool, on the host or inside the container
  if [ -n "${PGDRILL_CONTAINER:-}" ]; then
    docker exec -i -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$PGDRILL_CONTAINER" "$@"
  else
    "$@"
  fi
}
sql() { run psql -X -At -v ON_ERROR_STOP=1 -d "$PGDATABASE" -c "$1"; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
set_dir="$PGDRILL_BACKUP_DIR/$stamp"
[ -e "$set_dir" ] && die "$set_dir already exists"
partial="$set_dir.partial"
mkdir -p "$partial"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

if [ "$mode" != --physical-only ]; then
  run pg_dumpall --globals-only > "$set_dir.partial/globals.sql"
  run pg_dump -Fc -d "$PGDATABASE" > "$set_dir.partial/$PGDATABASE.dump"
fi
if [ "$mode" != --logical-only ]; then
  if [ -n "${PGDRILL_CONTAINER:-}" ]; then
    inside=/tmp/pgdrill-backup-$stamp
    run pg_basebackup -D "$inside" -Ft -z -P --checkpoint=fast 2>"$set_dir.partial/pg_basebackup.log"
    docker cp "$PGDRILL_CONTAINER:$inside" "$set_dir.partial/base"
    docker exec "$PGDRILL_CONTAINER" rm -rf "$inside"
  else
    pg_basebackup -D "$set_dir.partial/base" -Ft -z -P --checkpoint=fast 2>"$set_dir.partial/pg_basebackup.log"
  fi
fi
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

version=$(sql "SHOW server_version")
tables='{}'
# row counts and content hashes, one table at a time (the same order-independent hash as the drill's checklist,
# under the same pinned output settings: a row's text form depends on them)
for table in $(sql "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p', 'm') AND (c.relkind <> 'm' OR c.relispopulated)
                    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
                    AND c.relname NOT IN ('dr_heartbeat', 'pgdrill_rto_probe') ORDER BY 1"); do
  line=$(sql "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
              SET extra_float_digits = 3; SET bytea_output = 'hex';
              SELECT count(*) || ' ' || coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)
              FROM $table t")
  line=${line##*$'\n'}  # psql also prints the SETs' command tags: the result is the last line
  tables=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); n,h=sys.argv[3].split(); d[sys.argv[2]]={"rows":int(n),"hash":h}; print(json.dumps(d))' "$tables" "$table" "$line")
done

python3 - "$set_dir.partial" "$PGDATABASE" "$started" "$finished" "$version" "$tables" <<'PY'
import hashlib, json, pathlib, sys
root, database, started, finished, version, tables = sys.argv[1:]
root = pathlib.Path(root)
files = {}
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    files[str(path.relative_to(root))] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
tables = json.loads(tables)
manifest = {"pgdrill_backup_manifest": 1, "database": database, "started_at": started, "finished_at": finished,
            "server_version": version, "files": files, "tables": tables}
wal = root / "base" / "backup_manifest"
if wal.exists():
    ranges = json.loads(wal.read_text())["WAL-Ranges"]
    manifest.update(start_lsn=ranges[0]["Start-LSN"], end_lsn=ranges[-1]["End-LSN"], timeline=ranges[0]["Timeline"])
(root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
PY
mv "$partial" "$set_dir"
partial=
echo "$set_dir"
