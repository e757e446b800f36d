"""Smoke drill: the runbook's "WAL Archiving" section, checked on a seeded cluster."""

from __future__ import annotations

import allure
import pytest

from pgdrill.fixtures.contract import RUNBOOK_ARCHIVE_COMMAND
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.steps import archiving

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def archived_cluster(cluster_factory):
    """One seeded cluster for the whole section: each check only reads it or switches a segment, and at a drill's
    full size a copy per check would cost more than the checks."""
    cluster = cluster_factory.new("wal-archiving")
    yield cluster
    cluster_factory.discard(cluster)


@pytest.fixture(autouse=True)
def section():
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("WAL archiving")
    allure.dynamic.story("WAL Archiving Configuration / Verification")


def test_archiving_configuration_is_the_runbooks(archived_cluster):
    shown = archiving.settings(archived_cluster)
    expected = {"archive_mode": "on", "wal_level": "replica",
                "archive_command": RUNBOOK_ARCHIVE_COMMAND.format(archive=archived_cluster.archive_location)}
    assert {key: shown[key] for key in expected} == expected


def test_switched_segment_reaches_archive(archived_cluster):
    segment = archiving.switch_and_wait(archived_cluster, timeout=30)
    assert archived_cluster.archive_listing()[segment] == 16 * 1024 * 1024


def test_archiver_has_not_failed(archived_cluster):
    archiving.switch_and_wait(archived_cluster, timeout=30)
    stats = archiving.archiver_stats(archived_cluster)
    assert stats["failed_count"] == 0, (
        f"pg_stat_archiver.failed_count={stats['failed_count']} (last failed {stats['last_failed_wal']})\n"
        + archiving.archive_failure_evidence(archived_cluster))


def test_seeded_tables_hold_expected_rows(archived_cluster, cluster_factory):
    expected = cluster_factory.seeded_template().seed.rows
    counts = {table: archived_cluster.scalar(f"SELECT count(*) FROM {table}", dbname=DATABASE)
              for table in expected}
    assert counts == expected


def test_pgvector_answers_knn(archived_cluster, pg_installation):
    if pg_installation.pgvector_version is None:
        pytest.skip(f"not run: pgvector is not installed in {pg_installation.bindir}")
    rows = archived_cluster.query(
        "SELECT id FROM goals ORDER BY embedding <-> (SELECT embedding FROM goals WHERE id = 1) LIMIT 5",
        dbname=DATABASE)
    assert len(rows) == 5 and rows[0][0] == 1
