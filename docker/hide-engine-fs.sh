#!/usr/bin/env bash
# Run a command with the Docker engine's own filesystem hidden from it, as a CI job container, a remote
# DOCKER_HOST or docker-in-docker would see things: the command gets a private mount namespace with an
# empty, unreadable tmpfs over /var/lib/docker (the engine, in its own namespace, is not affected).
# A docker drill that passes under this reads and writes volumes only through the engine.
#   usage: docker/hide-engine-fs.sh COMMAND [ARGS...]
# Needs root (unshare); without it the command runs as it is, and says so.
set -euo pipefail
root=${PGDRILL_ENGINE_ROOT:-/var/lib/docker}
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
  echo "hide-engine-fs: not root (or no unshare): running with $root visible" >&2
  exec "$@"
fi
exec unshare --mount --propagation private -- sh -c '
  mount -t tmpfs -o size=64k,mode=000 pgdrill-hidden "$0" && exec "$@"' "$root" "$@"
