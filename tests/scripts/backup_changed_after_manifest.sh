#!/usr/bin/env bash
# Sabotaged backup script: the reference backup, then the globals dump rewritten after the manifest was made.
set -euo pipefail
set_dir=$("$(dirname "$0")/../../scripts/backup.sh" "$@")
echo "-- edited after the manifest" >> "$set_dir/globals.sql"
echo "$set_dir"
