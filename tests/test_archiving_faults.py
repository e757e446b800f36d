"""The archiving drill fails, naming the cause, when archive_command fails — and passes when healthy."""

from __future__ import annotations

import os
import time

import pytest

from pgdrill.scenarios.steps import archiving


def test_healthy_archive_passes(make_cluster):
    cluster = make_cluster("healthy", seeded=False)
    segment = archiving.switch_and_wait(cluster, timeout=30)
    assert segment in cluster.archived_segments()
    assert archiving.archiver_stats(cluster)["failed_count"] == 0


def test_unwritable_archive_directory_is_named(make_cluster):
    cluster = make_cluster("readonly-archive", seeded=False)
    os.chown(cluster.archive_dir, 0, 0) if os.geteuid() == 0 else None
    os.chmod(cluster.archive_dir, 0o555)
    try:
        with pytest.raises(archiving.ArchivingError) as raised:
            archiving.switch_and_wait(cluster, timeout=5)
    finally:
        os.chmod(cluster.archive_dir, 0o700)
    message = str(raised.value)
    assert raised.value.code == "ARCHIVING_FAILED"  # a drill that meets it fails with this finding
    assert "WAL archiving is failing" in message
    assert "archive_command exited with code 1" in message
    assert "Permission denied" in message
    assert "failed_count=0" not in message


def test_reading_back_takes_restore_commands_as_teams_quote_them_and_bounds_a_hung_one(make_cluster, monkeypatch):
    cluster = make_cluster("read-back", seeded=False)
    quoted = archiving.ReadBack(cluster, f"cp '{cluster.archive_location}/%f' '%p'")  # %p in single quotes
    segment = archiving.switch_and_wait(cluster, timeout=30, read_back=quoted)
    assert quoted.missing(segment) is None
    monkeypatch.setattr(archiving, "FETCH_SECONDS", 2)
    hung = archiving.ReadBack(cluster, "sleep 30; cp %f %p")
    started = time.monotonic()
    assert hung.missing(segment) == "restore_command did not finish within 2 s"
    assert time.monotonic() - started < 15
    assert "restore_command exited 1" in (archiving.ReadBack(cluster, "cp /nonexistent/%f %p").missing(segment) or "")
