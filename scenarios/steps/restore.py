"""Putting a base backup back the runbook's way, corrected (Scenario 2 steps 1-5, shared by PITR and the
rebuild), the disaster that precedes it, and the recovery target a point-in-time recovery is sent to.

Other ways to put a backup back (a team's restore.sh, a production backup found on disk, the rebuild's new
volumes) are the scenarios' own; all of them then go through steps.recovery."""

from __future__ import annotations

import time
from datetime import datetime

from pgdrill.fixtures import cost
from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.backups import basebackup
from pgdrill.scenarios.backups.basebackup import BaseBackup
from pgdrill.scenarios.steps.common import DrillContext
from pgdrill.scenarios.verdicts.result import ScenarioResult

GAP_SECONDS = 0.3  # markers keep committing this long after a PITR target: exactness is shown on both sides
DESTRUCTIVE = "DELETE FROM tasks WHERE state <> 'done'; DROP TABLE goals CASCADE"  # the disaster a PITR undoes


def lose_data_directory(result: ScenarioResult, cluster: Cluster) -> None:
    """The disaster of a physical recovery: the server crashes and its data directory is gone."""
    with result.step("disaster", "the server crashes and its data directory is lost; the WAL archive survives"), \
            cost.drill("the disaster (crash, data lost)"):
        cluster.crash()
        cluster.wipe_data()


def destroy(result: ScenarioResult, cluster: Cluster, database: str = DATABASE, why: str = "") -> None:
    """The disaster a point-in-time recovery undoes (and a logical restore repairs): a destructive transaction."""
    with result.step("disaster", f"a destructive transaction: {DESTRUCTIVE}{why}"):
        with cluster.connect(database, autocommit=False) as conn:
            conn.execute(DESTRUCTIVE)
            conn.commit()


def restore_command(ctx: DrillContext, cluster: Cluster) -> str:
    """The runbook's restore_command (a self-test may swap in a broken one)."""
    hook = ctx.faults.restore_command
    return hook(cluster) if hook else cluster.runbook_restore_command()


def restore_files(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, backup: BaseBackup,
                  target_settings: dict[str, str]) -> None:
    """Steps 1-5: data directory from the backup, recovery.signal, settings appended to auto.conf (not
    recovery.conf, not `cat >`), after the archive's continuity is checked from the backup's start segment."""
    with result.step("step 1", "stop PostgreSQL"):
        cluster.stop("fast")
    with result.step("step 2", "remove the old data directory"):
        cluster.wipe_data()
    # before the extraction, not beside it: both want a core (tar's gunzip, pg_waldump), and on a busy host the
    # pre-check beside it slowed the files phase by more than it costs on its own
    with result.step("pre-check", "archive continuity and readability from the backup's start segment"):
        result.facts["archived_segments_checked"] = len(basebackup.check_cluster_archive(cluster, backup))
    with result.step("step 3", "extract base.tar.gz into the data directory and pg_wal.tar.gz into pg_wal/"):
        basebackup.extract(cluster, backup)
    if ctx.faults.before_start:
        ctx.faults.before_start(cluster)
    with result.step("step 4", "create recovery.signal"):
        cluster.write_data_file("recovery.signal", "")
    with result.step("step 5", "append restore_command (and targets) to postgresql.auto.conf, not recovery.conf"):
        cluster.write_auto_conf({"restore_command": restore_command(ctx, cluster), **target_settings}, append=True)


def mark_target(cluster: Cluster) -> datetime:
    """A PITR target: now, as the server's clock has it; the markers keep committing GAP_SECONDS past it."""
    moment = cluster.scalar("SELECT clock_timestamp()")
    time.sleep(GAP_SECONDS)
    return moment


