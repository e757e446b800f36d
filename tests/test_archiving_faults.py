"""The archiving drill fails, naming the cause, when archive_command fails — and passes when healthy."""

from __future__ import annotations

import os

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
