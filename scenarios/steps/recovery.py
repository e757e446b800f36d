"""The one physical-recovery pipeline: whatever put the backup back (the runbook's corrected steps, a team's
restore.sh, a production backup found on disk, the rebuild's new volumes), the restored server is started,
where recovery went is proved from its own account, its recovery settings are reset, and the recovery is
judged by one judge.

    before = Before(...)          # the source, sampled just before the disaster
    t0 = time.time(); <disaster>; <put the backup back>
    recover(ctx, result, cluster, backup, before, t0)

A recovery to the archive's end is proved by `redo done at` against the archive's last segment; a point-in-time
recovery by the server's "recovery stopping before commit" line and by the markers, exact on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.progress import replay_towards
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.backups import basebackup
from pgdrill.scenarios.backups.basebackup import BaseBackup
from pgdrill.scenarios.backups.wal import format_lsn, parse_lsn
from pgdrill.scenarios.proofs import checklist, replay
from pgdrill.scenarios.proofs.loss import judge_physical_loss, judge_stop_point
from pgdrill.scenarios.steps.common import DrillContext, Workload, beside, verify_all
from pgdrill.scenarios.verdicts.checks import Check
from pgdrill.scenarios.verdicts.result import ScenarioResult


@dataclass(frozen=True)
class Steps:
    """How the pipeline's steps are named in a result: by default plainly, a runbook scenario by its step numbers."""

    start: tuple[str, str] = ("start", "start PostgreSQL and wait for the first write")
    prove: str = "prove"
    reset: str = "reset"
    verify: tuple[str, str] = ("verify", "recovery verification checklist")


@dataclass(frozen=True)
class Before:
    """The source as it was just before the disaster: what a recovery is judged against."""

    snapshot: checklist.Snapshot
    timeline: int
    workload: Workload
    backup_check: Check | None
    archived_until: int = 0  # where the last archived segment ended (what a recovery to the archive's end owes)
    target: datetime | None = None  # where a point-in-time recovery is sent
    disaster_at: float | None = None  # PITR: markers acknowledged after the destruction are not in the RPO


def current_timeline(cluster: Cluster) -> int:
    return int(cluster.scalar("SELECT timeline_id FROM pg_control_checkpoint()"))


def source_snapshot(result: ScenarioResult, cluster: Cluster, dbname: str = DATABASE) -> checklist.Snapshot:
    """The checklist's view of the source (and its size, what restore time grows with)."""
    snapshot = checklist.take_snapshot(cluster, dbname)
    result.facts["database_bytes"] = cluster.scalar("SELECT pg_database_size(%s)", (dbname,))
    return snapshot


def start_and_prove(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, backup: BaseBackup | None, *,
                    target: datetime | None, timeline: int | None = None, towards: int | None = None,
                    dbname: str = DATABASE, launch: Callable[[], object] | None = None, steps: Steps = Steps()) -> float:
    """Start the restored server, prove where recovery went by its own account, reset its recovery settings.

    backup: what was restored (None when the runbook's own steps took it: then timeline must be given);
    timeline: the one recovery follows (the backup's unless the archive's history says otherwise); towards: the LSN
    replay should reach, for the progress line; launch: what starts the server when something else does (compose).
    Returns when the first write succeeded."""
    # what recovery sees of the timeline it follows: fixed since the disaster (the server archives nothing while
    # down, and after promotion only the new timeline and a .partial), so it is listed beside the start
    listing = beside(ctx, "archive-listing", cluster.archived_segments)
    log_from = 0 if launch else cluster.log_size()
    with result.step(*steps.start), \
            ctx.progress.watch(cluster, "WAL replay", replay_towards(format_lsn(towards) if towards else None)):
        if launch:
            launch()
        t1 = basebackup.start_recovery(cluster, dbname, already_started=launch is not None, evidence=result.evidence)
    log = cluster.log_since(log_from)
    archived = listing.result()
    if ctx.read_back is not None and backup is not None and towards:  # no listing: the server's account of it
        archived = ctx.read_back.names(timeline or backup.timeline, backup.start_lsn, towards)
    if target is None:
        with result.step(steps.prove, "recovery replayed the archive to its end (the server's account)"):
            replay.prove_archive_end_reached(result, log, archived, timeline or (backup.timeline if backup else 1))
    else:
        with result.step(steps.prove, "where recovery stopped (the server's 'recovery stopping before commit')"):
            replay.prove_stop_reached(result, log)
    if backup is not None:
        record_wal_replayed(result, log, backup)
    basebackup.reset_recovery_settings(result, cluster, step=steps.reset)
    return t1


def record_wal_replayed(result: ScenarioResult, log: str, backup: BaseBackup) -> None:
    """How much WAL recovery replayed (from the backup's start to where redo ended): what replay time grows with."""
    redo_end = replay.read_account(log).redo_end_lsn
    if redo_end:
        result.facts["wal_replayed_bytes"] = parse_lsn(redo_end) - backup.start_lsn


def record_rto(result: ScenarioResult, t0: float, t_files: float, t1: float) -> None:
    result.rto_seconds = round(t1 - t0, 3)
    result.phases = {"restore_files": round(t_files - t0, 3), "replay_and_promote": round(t1 - t_files, 3)}


def judge(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, before: Before, steps: Steps = Steps()) -> None:
    """Every physical recovery's verdict: the checklist, RPO from the markers, the loss (split by whether its WAL was
    archived) or the exactness around the target, and that archive recovery ran at all."""
    if ctx.faults.before_verify:
        ctx.faults.before_verify(cluster)
    with result.step(*steps.verify):
        verify_all(ctx, result, cluster, before.snapshot, physical=True, old_timeline=before.timeline,
                   backup_check=before.backup_check)
        workload = before.workload
        acked = None if before.disaster_at is None else {
            ack.seq for ack in workload.writer.acks if ack.acked_at < before.disaster_at}
        present = workload.judge(result, cluster, acked=acked)
        if before.target is not None:
            judge_stop_point(result, workload, before.target, present)
        else:
            judge_physical_loss(result, workload, present, before.archived_until)
        if current_timeline(cluster) == before.timeline:
            result.find("WAL_REPLAY_SKIPPED", "the restore did not run archive recovery: the server came up on "
                                              "the old timeline with only the backup's own WAL")


def recover(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, backup: BaseBackup, before: Before,
            t0: float, steps: Steps = Steps()) -> None:
    """From a backup put back at t0's disaster to a judged recovery: start, prove, reset, RTO, judge."""
    t_files = time.time()
    t1 = start_and_prove(ctx, result, cluster, backup, target=before.target, towards=before.archived_until or None,
                         steps=steps)
    record_rto(result, t0, t_files, t1)
    judge(ctx, result, cluster, before, steps)
