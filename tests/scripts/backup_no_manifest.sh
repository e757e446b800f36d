#!/usr/bin/env bash
# Sabotaged backup script: the reference backup, then its manifest.json deleted (an old script version).
set -euo pipefail
set_dir=$("$(dirname "$0")/../../scripts/backup.sh" "$@")
rm "$set_dir/manifest.json"
echo "$set_dir"
