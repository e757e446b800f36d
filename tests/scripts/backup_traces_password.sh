#!/usr/bin/env bash
# Sabotaged on purpose: traces itself with `set -x`, so bash prints the password it expands, then fails.
set -x
export PGPASSWORD="$PGPASSWORD"
psql_url="postgresql://postgres:$PGPASSWORD@$PGHOST:$PGPORT/postgres"
echo "could not connect with $psql_url" >&2
exit 1
