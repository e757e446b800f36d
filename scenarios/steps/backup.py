"""Before the disaster: archiving corrected, a base backup taken the runbook's way and proved, WAL archived after
it under load (so that replay must fetch it), and the RPO bound those archiving delays give."""

from __future__ import annotations

from concurrent.futures import Future

from pgdrill.fixtures import cost, progress
from pgdrill.fixtures.contract import Cluster
from pgdrill.scenarios.backups import basebackup
from pgdrill.scenarios.backups.basebackup import BaseBackup
from pgdrill.scenarios.backups.wal import segment_end_lsn
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.common import DrillContext, beside, keep_writing
from pgdrill.scenarios.verdicts.checks import FAILED, Check, run_check
from pgdrill.scenarios.verdicts.result import ScenarioResult

ARCHIVED_SEGMENTS_AFTER_BACKUP = 3  # so that replay must fetch WAL through restore_command


def correct_archiving(ctx: DrillContext, result: ScenarioResult, cluster: Cluster) -> None:
    """The runbook corrected before anything is measured: archive_timeout bounds the unarchived tail."""
    with result.step("setup", f"archive_timeout = {ctx.archive_timeout:g} s (RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT)"):
        archiving.set_archive_timeout(cluster, ctx.archive_timeout)


def backup_and_prove(ctx: DrillContext, result: ScenarioResult,
                     cluster: Cluster) -> tuple[BaseBackup, Future[Check]]:
    """pg_basebackup as the runbook takes it (corrected), then pg_verifybackup as a checklist item.

    The verification reads only the backup, so it runs beside the drill's next steps (two cores, the load and the
    snapshot); `settled` takes its result before the disaster, so that it never shares the RTO window with the
    recovery it would slow. The scenario's end waits for it whatever happens: nothing of it outlives the scenario."""
    with result.step("backup", "pg_basebackup -Ft -z -P --checkpoint=fast (with backup_manifest)"):
        with ctx.progress.watch(cluster, "pg_basebackup", progress.basebackup):
            backup = basebackup.take(cluster, ctx.workdir / "base")
    result.evidence["pg_basebackup -Ft -z -P --checkpoint=fast"] = backup.output
    result.facts["basebackup_seconds"] = round(backup.seconds, 3)
    result.facts["basebackup_bytes"] = sum(p.stat().st_size for p in backup.path.iterdir())
    if ctx.faults.after_base_backup:
        ctx.faults.after_base_backup(backup, cluster)
    return backup, beside(ctx, "verifybackup", lambda: run_check("base backup verified (pg_verifybackup)",
                                                                 lambda: basebackup.verify(cluster, backup)))


def settled(result: ScenarioResult, check: Future[Check]) -> Check:
    """The base backup's verification, finished: called just before the disaster (see backup_and_prove).

    A failure is a finding from here on: the checklist shows the check at the end, but a recovery that aborts
    before it must not lose what was proved before the disaster."""
    with cost.drill("backup verification (pg_verifybackup)"):  # what of it the drill's steps did not hide
        verdict = check.result()
    if verdict.status == FAILED and verdict.code:
        result.find(verdict.code, f"{verdict.name}: {verdict.detail}")
    return verdict


def archive_segments_after_backup(ctx: DrillContext, result: ScenarioResult, cluster: Cluster) -> list[float]:
    """Commits after the backup, in segments that are switched and archived: replay must bring them back.

    Returns each segment's archiving delay (switch to arrival), for the RPO bound.
    """
    delays = []
    with result.step("load", f"{ARCHIVED_SEGMENTS_AFTER_BACKUP} WAL segments written and archived after the backup"):
        for _ in range(ARCHIVED_SEGMENTS_AFTER_BACKUP):
            keep_writing(ctx.load_seconds / ARCHIVED_SEGMENTS_AFTER_BACKUP)
            delays.append(archiving.timed_switch(cluster, read_back=ctx.read_back))
    return delays


def bound_rpo(ctx: DrillContext, result: ScenarioResult, delays: list[float]) -> None:
    """The RPO a physical recovery can promise: archive_timeout plus the slowest archiving delay seen."""
    result.bound_rpo(*archiving.rpo_bound(ctx.archive_timeout, delays))


def archived_end_lsn(cluster: Cluster) -> int:
    """The LSN where the last archived segment ends (sampled before the disaster)."""
    return segment_end_lsn(archiving.archiver_stats(cluster)["last_archived_wal"] or "0" * 24)
