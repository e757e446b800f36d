#!/usr/bin/env bash
# Lays out build/typecheck/pgdrill/ as the installed package looks (fixtures/, scenarios/, reports/ mapped
# under pgdrill, as pyproject's package-dir does), with each module a symlink to the project's own file,
# so that mypy checks the code under the names the code imports it by.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/typecheck
mkdir -p build/typecheck/pgdrill
touch build/typecheck/pgdrill/__init__.py
for package in fixtures scenarios reports; do
  mkdir -p "build/typecheck/pgdrill/$package"
  for module in "$package"/*.py; do
    ln -s "../../../../$module" "build/typecheck/pgdrill/$module"
  done
done
