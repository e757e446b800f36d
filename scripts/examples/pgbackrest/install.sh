#!/usr/bin/env bash
# What the pgBackRest example needs, installed once per machine (run as root; CI runs it from .ci/run):
#   pgbackrest      Debian's package (2.45 on bookworm: PostgreSQL up to 15)
#   postgresql-15   Debian's PostgreSQL 15 server binaries, for --pg-bindir /usr/lib/postgresql/15/bin (no cluster is
#                   created or started by the package: createcluster.conf says so first)
set -euo pipefail
if command -v pgbackrest >/dev/null && [ -x /usr/lib/postgresql/15/bin/postgres ]; then
  echo "pgbackrest-install: $(pgbackrest version) and PostgreSQL 15 already present"
  exit 0
fi
need=()
command -v pgbackrest >/dev/null || need+=(pgbackrest)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
mkdir -p /etc/postgresql-common
grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
  || echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
echo "pgbackrest-install: apt-get install ${need[*]}"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
pgbackrest version
