#!/usr/bin/env bash
# Run docker drills from inside pgdrill/runner:offline, as a CI job container would: the test process
# has the engine's socket and nothing of its filesystem. Builds the runner first when it is missing or
# older than the project (docker/build-runner.sh). Arguments go to pytest after `drills`; the summary
# lands in ${PGDRILL_RUNNER_OUT:-reports/out/runner}.
#   usage: docker/run-in-runner.sh [-m "monthly or quarterly"] [more pytest arguments]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "${PGDRILL_RUNNER_OUT:-$here/../reports/out/runner}" && cd "${PGDRILL_RUNNER_OUT:-$here/../reports/out/runner}" && pwd)
image=$(bash "$here/build-runner.sh" | tail -n 1)
pg_image=${PGDRILL_PG_IMAGE:-pgdrill/pgvector:16-offline}
name=pgdrill-runner-$$
# a cancelled run stops the runner with SIGTERM, which pgdrill turns into a full teardown
trap 'docker stop -t 90 "$name" >/dev/null 2>&1 || true; docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
docker run --rm --name "$name" --network host -v /var/run/docker.sock:/var/run/docker.sock -v "$out:/out" \
  "$image" pytest drills "$@" --pg-backend docker --pg-image "$pg_image" --docker-network host --dr-report-dir /out
