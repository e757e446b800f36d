#!/usr/bin/env bash
# The reference backup script pointed at a port nothing listens on: pg_dump fails inside it.
PGPORT=1 exec "$(dirname "$0")/../../scripts/backup.sh" "$@"
