#!/usr/bin/env bash
# The set's setup, then its archive wrapper installed beside the config (the server's OS user must run it).
set -Eeuo pipefail
"$(dirname "$0")/../setup.sh"
source "$(dirname "$0")/common.sh"
install -m 0700 "$(dirname "$0")/archive-push-unless-paused.sh" "$B/"
chown "$OWNER_UID:$OWNER_GID" "$B/archive-push-unless-paused.sh"
