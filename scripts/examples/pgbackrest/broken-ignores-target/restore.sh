#!/usr/bin/env bash
# An older restore wrapper: always `pgbackrest restore` of the latest set with the default recovery type, whatever
# target it is given - "restore to 14:02" replays to the end of the WAL.
set -Eeuo pipefail
source "$(dirname "$0")/common.sh"
pgbr restore >&2
