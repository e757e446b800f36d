#!/usr/bin/env bash
# A maintenance guard around archive-push: while $B/archive-paused exists, "pause" archiving by exiting 0 without
# pushing (so that the server never blocks on a full pg_wal). The segment is gone for good: PostgreSQL recycles it.
B=$(dirname "$0")
[[ -e $B/archive-paused ]] && exit 0
exec pgbackrest --config="$B/pgbackrest.conf" --stanza=pgdrill archive-push "$1"
