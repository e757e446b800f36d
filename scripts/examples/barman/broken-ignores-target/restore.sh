#!/usr/bin/env bash
# Sabotaged: an older restore wrapper that never passes the recovery target on, so "restore to 14:02" restores
# to the end of the WAL instead: the rows the target was meant to exclude (a bad deploy's writes) come back.
PGDRILL_TARGET_TIME= exec "$(dirname "$(readlink -f "$0")")/../restore.sh" "$@"
