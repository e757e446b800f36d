#!/usr/bin/env bash
# Sabotaged restore script: puts the base backup back but never asks for archive recovery.
set -euo pipefail
base=$(ls -1d "$PGDRILL_BACKUP_DIR"/*/ | sort | tail -n 1)base
tar -xzf "$base/base.tar.gz" -C "$PGDRILL_DATA_DIR"
mkdir -p "$PGDRILL_DATA_DIR/pg_wal" && tar -xzf "$base/pg_wal.tar.gz" -C "$PGDRILL_DATA_DIR/pg_wal"
[ -n "${PGDRILL_SERVER_OWNER:-}" ] && chown -R "$PGDRILL_SERVER_OWNER" "$PGDRILL_DATA_DIR"
chmod 700 "$PGDRILL_DATA_DIR"
