#!/usr/bin/env bash
# A base backup as a plain data directory (pg_basebackup -Fp, with its backup_manifest), one directory per
# run; the WAL goes to the archive through the gzip archive_command beside this script.
set -Eeuo pipefail
dir=${PGDRILL_BACKUP_DIR:?PGDRILL_BACKUP_DIR must name the backup directory}
[ -n "${PGDRILL_BINDIR:-}" ] && export PATH="$PGDRILL_BINDIR:$PATH"
stamp=$(date -u +%Y%m%d-%H%M%S)
work="$dir/.base-$stamp"
mkdir -m 700 "$work"
if [ -n "${PGDRILL_CONTAINER:-}" ]; then
  # the engine's filesystem may not be this machine's: the backup comes out as a tar stream and is unpacked here
  docker exec -e PGPORT="${PGDRILL_CONTAINER_PORT:-5432}" -e PGUSER="${PGUSER:-postgres}" "$PGDRILL_CONTAINER" \
    pg_basebackup -D - -Ft -X fetch --checkpoint=fast | tar -x -C "$work"
else
  pg_basebackup -D "$work" -Fp -X stream --checkpoint=fast
fi
[ -f "$work/backup_manifest" ] || { echo "backup.sh: pg_basebackup wrote no backup_manifest" >&2; exit 1; }
mv "$work" "$dir/base-$stamp"
