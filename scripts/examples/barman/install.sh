#!/usr/bin/env bash
# What the Barman example needs, installed once per machine (run as root; CI runs it from .ci/run):
#   rsync          barman recover copies the backup with it (Debian package)
#   /opt/pgdrill/barman   Barman from PyPI in a venv on Debian's /usr/bin/python3: the postgres OS user, as which
#                  barman runs, must be able to execute it (a Python under root's home is not reachable)
# psycopg2, a Barman dependency, is built from source: gcc, libpq-dev and python3-dev come with it.
set -euo pipefail
PREFIX=${PGDRILL_BARMAN_PREFIX:-/opt/pgdrill/barman}
VERSION=3.19.1
if "$PREFIX/bin/barman" --version 2>/dev/null | grep -q "$VERSION" && command -v rsync >/dev/null; then
  echo "barman-install: barman $VERSION at $PREFIX and rsync already present"
  exit 0
fi
need=()
command -v rsync >/dev/null || need+=(rsync)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
ls /usr/include/python3*/Python.h >/dev/null 2>&1 || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "barman-install: apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
umask 022  # readable and runnable by the postgres OS user, writable by root only
rm -rf "$PREFIX"
/usr/bin/python3 -m venv "$PREFIX"
"$PREFIX/bin/pip" install -q --disable-pip-version-check "barman==$VERSION"
"$PREFIX/bin/barman" --version
