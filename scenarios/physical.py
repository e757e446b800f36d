"""Scenario 2 — Restore from Physical Backup (pg_basebackup) to the end of the WAL archive.

Runbook: 1 stop PostgreSQL; 2 remove the data directory; 3 extract base.tar.gz; 4 recovery.signal;
5 recovery.conf; 6 start; 7 monitor; 8 verify. Corrections: --checkpoint=fast on the backup
(BASEBACKUP_SLOW_CHECKPOINT), pg_wal.tar.gz extracted too (PG_WAL_TAR_IGNORED), settings appended
to postgresql.auto.conf instead of recovery.conf (RECOVERY_CONF_UNSUPPORTED), recovery settings
reset after promotion (AUTO_CONF_OVERWRITTEN), and the archive's continuity checked before start
(a missing middle segment would otherwise end recovery silently).
"""

from __future__ import annotations

import time

from pgdrill.fixtures import progress
from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.progress import replay_towards
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.backups import basebackup
from pgdrill.scenarios.backups.basebackup import BaseBackup, parse_lsn
from pgdrill.scenarios.proofs import checklist, replay
from pgdrill.scenarios.proofs.replay import format_lsn, segment_end_lsn
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, verify_all
from pgdrill.scenarios.verdicts.checks import run_check
from pgdrill.scenarios.verdicts.result import INFO, ScenarioResult

SCENARIO = "physical_restore"


ARCHIVED_SEGMENTS_AFTER_BACKUP = 3  # so that replay must fetch WAL through restore_command


def restore_command(ctx: DrillContext, cluster: Cluster) -> str:
    """The runbook's restore_command (a self-test may swap in a broken one)."""
    hook = ctx.faults.restore_command
    return hook(cluster) if hook else cluster.runbook_restore_command()


def archive_segments_after_backup(ctx: DrillContext, result: ScenarioResult, cluster: Cluster) -> list[float]:
    """Commits after the backup, in segments that are switched and archived: replay must bring them back.

    Returns each segment's archiving delay (switch to arrival), for the RPO bound.
    """
    delays = []
    with result.step("load", f"{ARCHIVED_SEGMENTS_AFTER_BACKUP} WAL segments written and archived after the backup"):
        for _ in range(ARCHIVED_SEGMENTS_AFTER_BACKUP):
            time.sleep(ctx.load_seconds / ARCHIVED_SEGMENTS_AFTER_BACKUP)
            delays.append(archiving.timed_switch(cluster))
    return delays


def bound_physical_rpo(ctx: DrillContext, result: ScenarioResult, delays: list[float]) -> None:
    result.bound_rpo(*archiving.rpo_bound(ctx.archive_timeout, delays))


def correct_archiving(ctx: DrillContext, result: ScenarioResult, cluster: Cluster) -> None:
    """The runbook corrected before anything is measured: archive_timeout bounds the unarchived tail."""
    with result.step("setup", f"archive_timeout = {ctx.archive_timeout:g} s (RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT)"):
        archiving.set_archive_timeout(cluster, ctx.archive_timeout)


def current_timeline(cluster: Cluster) -> int:
    return int(cluster.scalar("SELECT timeline_id FROM pg_control_checkpoint()"))


def backup_and_prove(ctx: DrillContext, result: ScenarioResult, cluster: Cluster):
    """Backup steps shared with PITR: pg_basebackup, then pg_verifybackup as a checklist item."""
    with result.step("backup", "pg_basebackup -Ft -z -P --checkpoint=fast (with backup_manifest)"):
        with ctx.progress.watch(cluster, "pg_basebackup", progress.basebackup):
            backup = basebackup.take(cluster, ctx.workdir / "base")
    result.evidence["pg_basebackup -Ft -z -P --checkpoint=fast"] = backup.output
    result.facts["basebackup_seconds"] = round(backup.seconds, 3)
    result.facts["basebackup_bytes"] = sum(p.stat().st_size for p in backup.path.iterdir())
    if ctx.faults.after_base_backup:
        ctx.faults.after_base_backup(backup, cluster)
    with result.step("backup", "pg_verifybackup against backup_manifest"):
        check = run_check("base backup verified (pg_verifybackup)", lambda: basebackup.verify(cluster, backup))
    return backup, check


def lose_data_directory(result: ScenarioResult, cluster: Cluster) -> None:
    with result.step("disaster", "the server crashes and its data directory is lost; the WAL archive survives"):
        cluster.crash()
        cluster.wipe_data()


def restore_files(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, backup: BaseBackup,
                  target_settings: dict[str, str]) -> list[str]:
    """Steps 1-5: data directory from the backup, recovery.signal, settings appended to auto.conf.

    Returns the archive's contents as recovery starts (what it will be compared with)."""
    with result.step("step 1", "stop PostgreSQL"):
        cluster.stop("fast")
    with result.step("step 2", "remove the old data directory"):
        cluster.wipe_data()
    with result.step("pre-check", "archive continuity and readability from the backup's start segment"):
        segments = basebackup.check_cluster_archive(cluster, backup)
        result.facts["archived_segments_checked"] = len(segments)
        archived = cluster.archived_segments()
    with result.step("step 3", "extract base.tar.gz into the data directory and pg_wal.tar.gz into pg_wal/"):
        basebackup.extract(cluster, backup)
    if ctx.faults.before_start:
        ctx.faults.before_start(cluster)
    with result.step("step 4", "create recovery.signal"):
        cluster.write_data_file("recovery.signal", "")
    with result.step("step 5", "append restore_command (and targets) to postgresql.auto.conf, not recovery.conf"):
        cluster.write_auto_conf({"restore_command": restore_command(ctx, cluster), **target_settings}, append=True)
    return archived


def judge_physical_loss(result: ScenarioResult, workload: Workload, present: set[int], archived_end_lsn: int) -> None:
    """Lost markers whose WAL was archived are real data loss; those only in unarchived WAL are expected."""
    lost = workload.acked - present
    in_archive = sorted(s for s in lost if parse_lsn(workload.lsn[s]) <= archived_end_lsn)
    if in_archive:
        result.find("ARCHIVED_DATA_LOST", f"{len(in_archive)} acknowledged transactions were lost although their WAL "
                                          f"had been archived (markers {in_archive[0]}..{in_archive[-1]})")
    unarchived = len(lost) - len(in_archive)
    result.facts["lost_unarchived_expected"] = unarchived
    if unarchived:
        result.find("UNARCHIVED_WAL_LOST", f"{unarchived} acknowledged transactions lived only in the WAL segment not "
                                           f"yet archived when the data directory was lost (the loss archive_timeout "
                                           f"bounds)", INFO)


def verify_physical(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, snapshot, old_timeline: int, backup_check,
                    workload: Workload, archived_until: int) -> set[int]:
    """Checklist, RPO, and whether the lost commits had been archived: every physical recovery's verdict."""
    verify_all(ctx, result, cluster, snapshot, physical=True, old_timeline=old_timeline, backup_check=backup_check)
    present = workload.judge(result, cluster)
    judge_physical_loss(result, workload, present, archived_until)
    return present


def archived_end_lsn(cluster: Cluster) -> int:
    """The LSN where the last archived segment ends (sampled before the disaster)."""
    return segment_end_lsn(archiving.archiver_stats(cluster)["last_archived_wal"] or "0" * 24)


def record_wal_replayed(result: ScenarioResult, log: str, backup: BaseBackup) -> None:
    """How much WAL recovery replayed (from the backup's start to where redo ended): what replay time grows with."""
    redo_end = replay.read_account(log).redo_end_lsn
    if redo_end:
        result.facts["wal_replayed_bytes"] = parse_lsn(redo_end) - backup.start_lsn


def record_rto(result: ScenarioResult, t0: float, t_files: float, t1: float) -> None:
    result.rto_seconds = round(t1 - t0, 3)
    result.phases = {"restore_files": round(t_files - t0, 3), "replay_and_promote": round(t1 - t_files, 3)}


def run(ctx: DrillContext) -> ScenarioResult:
    result = ctx.result(SCENARIO, 2)

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("s2-physical")
        correct_archiving(ctx, result, cluster)
        workload = Workload(ctx, cluster)
        backup, backup_check = backup_and_prove(ctx, result, cluster)
        delays = archive_segments_after_backup(ctx, result, cluster)
        bound_physical_rpo(ctx, result, delays)
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        result.facts["database_bytes"] = cluster.scalar("SELECT pg_database_size(%s)", (DATABASE,))
        old_timeline = current_timeline(cluster)
        workload.stop_and_sample()
        archived_until = archived_end_lsn(cluster)

        t0 = time.time()
        lose_data_directory(result, cluster)
        if ctx.faults.after_disaster:
            ctx.faults.after_disaster(cluster, backup)
        archived = restore_files(ctx, result, cluster, backup, {})
        t_files = time.time()
        log_from = cluster.log_size()
        with result.step("step 6-7", "start PostgreSQL and monitor recovery until the first write"), \
                ctx.progress.watch(cluster, "WAL replay", replay_towards(format_lsn(archived_until))):
            t1 = basebackup.start_recovery(cluster, DATABASE, evidence=result.evidence)
        record_rto(result, t0, t_files, t1)
        with result.step("step 7a", "prove recovery replayed the archive to its end (the server's account)"):
            replay.prove_archive_end_reached(result, cluster.log_since(log_from), archived, backup.timeline)
            record_wal_replayed(result, cluster.log_since(log_from), backup)
        basebackup.reset_recovery_settings(result, cluster)
        if ctx.faults.before_verify:
            ctx.faults.before_verify(cluster)
        with result.step("step 8", "verify (recovery verification checklist)"):
            verify_physical(ctx, result, cluster, snapshot, old_timeline, backup_check, workload, archived_until)

    return execute(result, body, ctx)
