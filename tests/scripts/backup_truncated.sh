#!/usr/bin/env bash
# Sabotaged backup script: the reference backup, then its dump cut in half (as a full disk would).
set -euo pipefail
set_dir=$("$(dirname "$0")/../../scripts/backup.sh" "$@")
dump="$set_dir/$PGDATABASE.dump"
truncate -s $(( $(stat -c %s "$dump") / 2 )) "$dump"
