#!/usr/bin/env bash
# Build pgdrill/runner:offline: the suite as a container (Python, pgdrill and its dependencies, the
# embedded PostgreSQL client binaries, the docker CLI and docker-compose), built without a registry.
#
#  1. a Debian rootfs with python3, the docker CLI and docker-compose (mmdebstrap, Debian's packages);
#  2. wheels of pgdrill and every dependency, fetched here for CPython 3.11 on x86_64 (bookworm's Python);
#  3. an image that installs them with --no-index into /opt/pgdrill and holds the project's drills/,
#     tests/ and scripts/ in /pgdrill (its working directory).
#
# Run it with the engine's socket (nothing of the engine's filesystem is needed):
#   docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD/out:/out" \
#     pgdrill/runner:offline pytest drills -m "monthly or quarterly" --pg-backend docker \
#     --pg-image pgdrill/pgvector:16-offline --docker-network host --dr-report-dir /out
# Needs root and an engine (docker/setup-engine.sh). Idempotent: the image carries a hash of the
# project's files and is rebuilt only when they changed (or with --rebuild). Prints the tag last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
image=${PGDRILL_RUNNER_IMAGE:-pgdrill/runner:offline}
base=pgdrill/runner-base:bookworm
python=${PYTHON:-python3}
log() { echo "build-runner: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine answers: run docker/setup-engine.sh first"; exit 1; }
sources=(fixtures scenarios reports pgdrill/__init__.py drills tests scripts conftest.py pyproject.toml)  # pgdrill/: its links are the folders above
source_hash=$(cd "$project" && git ls-files -z "${sources[@]}" | xargs -0 sha256sum | sha256sum | cut -c1-16)
built=$(docker image inspect -f '{{ index .Config.Labels "pgdrill.source" }}' "$image" 2>/dev/null || true)
if [ "${1:-}" != --rebuild ] && [ "$built" = "$source_hash" ]; then
  log "image $image is up to date with the project (source $source_hash)"
  echo "$image"
  exit 0
fi
command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing: run docker/setup-engine.sh first"; exit 1; }

work=$(mktemp -d /var/tmp/pgdrill-runner.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "building the runner's Debian rootfs (python3, docker CLI, docker-compose) with mmdebstrap"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,docker.io,docker-compose,ca-certificates \
    bookworm "$work/rootfs.tar"
  docker import "$work/rootfs.tar" "$base" >/dev/null
  rm -f "$work/rootfs.tar"
fi

log "fetching wheels of pgdrill and its dependencies for CPython 3.11 / x86_64"
mkdir -p "$work/ctx/wheels"
mkdir -p "$work/src"  # the wheel is built from the tracked files, never from a stale build/ of the tree
(cd "$project" && git ls-files -z "${sources[@]}" | xargs -0 cp --parents -t "$work/src")
"$python" -m pip wheel -q --no-deps --wheel-dir "$work/ctx/wheels" "$work/src"
"$python" -m pip download -q --disable-pip-version-check --dest "$work/ctx/wheels" --only-binary=:all: --python-version 3.11 \
  --implementation cp --abi cp311 --abi abi3 --abi none --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  "$work"/ctx/wheels/pgdrill-*.whl
mkdir -p "$work/ctx/pgdrill"
(cd "$project" && git ls-files -z drills tests scripts conftest.py pyproject.toml | xargs -0 cp --parents -t "$work/ctx/pgdrill")
cat > "$work/ctx/Dockerfile" <<DOCKERFILE
FROM $base
LABEL pgdrill.source=$source_hash
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/pgdrill \\
 && /opt/pgdrill/bin/pip install -q --no-index --find-links /tmp/wheels pgdrill \\
 && rm -rf /tmp/wheels
COPY pgdrill /pgdrill
ENV PATH=/opt/pgdrill/bin:\$PATH PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8
WORKDIR /pgdrill
CMD ["pytest", "drills", "-m", "monthly or quarterly", "--pg-backend", "docker", \\
     "--pg-image", "pgdrill/pgvector:16-offline", "--docker-network", "host", "--dr-report-dir", "/out"]
DOCKERFILE
log "building $image"
docker build -q -t "$image" "$work/ctx" >/dev/null
echo "$image"
