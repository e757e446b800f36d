#!/usr/bin/env bash
# Sabotaged restore script: gives up at once, as one pointed at a missing backup would.
echo "restore.sh: no backup found under ${PGDRILL_BACKUP_DIR:-?}" >&2
exit 3
