#!/usr/bin/env bash
# Sabotaged backup script: dumps the postgres database under the platform database's name.
set -euo pipefail
want=$PGDATABASE
set_dir=$(PGDATABASE=postgres "$(dirname "$0")/../../scripts/backup.sh" "$@")
mv "$set_dir/postgres.dump" "$set_dir/$want.dump"
