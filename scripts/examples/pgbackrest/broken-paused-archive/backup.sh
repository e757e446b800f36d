#!/usr/bin/env bash
# The set's backup, then archiving "paused" while the repository is copied offsite - and never resumed.
set -Eeuo pipefail
"$(dirname "$0")/../backup.sh"
source "$(dirname "$0")/common.sh"
as_owner touch "$B/archive-paused"
