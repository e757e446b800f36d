"""Scenario 3 — Point-in-Time Recovery to just before a destructive transaction.

Runbook: 1 stop; 2 restore the base backup (Scenario 2 steps 2-3); 3 `cat >` postgresql.auto.conf
with restore_command and recovery_target_time; 4 recovery.signal; 5 start; 6 monitor; 7 verify
with `SELECT now()`. Corrections: settings appended, not `cat >` (AUTO_CONF_OVERWRITTEN); the
target carries an explicit UTC offset (a bare time is read in the server's TimeZone) and a later commit is
archived before recovery (recovery stops only at a commit past the target); where recovery stopped is proved by the server's "recovery stopping
before commit" line and by the markers, exact in both directions (NOW_AS_PITR_PROOF).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.backups import basebackup
from pgdrill.scenarios.backups.basebackup import BaseBackup
from pgdrill.scenarios.physical import (
    backup_and_prove,
    bound_physical_rpo,
    correct_archiving,
    current_timeline,
    record_rto,
    record_wal_replayed,
    restore_files,
)
from pgdrill.scenarios.proofs import checklist, replay
from pgdrill.scenarios.proofs.measure import pitr_exactness
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, verify_all
from pgdrill.scenarios.verdicts.result import DrillFailure, RunbookDefect, ScenarioResult

SCENARIO = "pitr"
DESTRUCTIVE = "DELETE FROM tasks WHERE state <> 'done'; DROP TABLE goals CASCADE"
GAP_SECONDS = 0.3  # between the recovery target and the destructive commit


def format_target(moment: datetime) -> str:
    """recovery_target_time with an explicit offset (a bare time is read in the server's TimeZone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def check_target_after_backup(archive_files: list[str], read: Callable[[str], bytes], backup: BaseBackup,
                              target: datetime) -> None:
    """A target before the backup's end cannot be reached from it: say so before starting."""
    stop = basebackup.backup_stop_time(archive_files, read, backup)
    if target < stop:
        raise DrillFailure("PITR_TARGET_BEFORE_BACKUP",
                           f"the recovery target {format_target(target)} lies before the base backup's consistency "
                           f"point (backup STOP TIME {stop:%Y-%m-%d %H:%M:%S} UTC): this backup cannot reach it")


def stop_evidence(cluster: Cluster, since: int) -> str:
    """The server's own words on where recovery stopped."""
    return replay.stop_line(cluster.log_since(since))


def prove_now_is_no_proof(result: ScenarioResult, cluster: Cluster, target: datetime) -> None:
    """The runbook's step 7 verifies PITR with SELECT now(): show what it returns next to the real evidence."""
    now = cluster.scalar("SELECT now()")
    result.runbook_defects.append(RunbookDefect(
        "NOW_AS_PITR_PROOF", SCENARIO,
        "Scenario 3 step 7 `SELECT now()` proves nothing about where recovery stopped: it is the current time",
        "read the server's 'recovery stopping before commit' line, pg_last_xact_replay_timestamp() before "
        "promotion, and marker rows around the target",
        f"now() = {now:%Y-%m-%d %H:%M:%S} after recovering to {format_target(target)}; the server said: "
        f"{result.facts.get('recovery_stop') or 'nothing'}"))


def run(ctx: DrillContext) -> ScenarioResult:
    result = ctx.result(SCENARIO, 3)

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("s3-pitr")
        correct_archiving(ctx, result, cluster)
        workload = Workload(ctx, cluster)
        backup, backup_check = backup_and_prove(ctx, result, cluster)
        time.sleep(ctx.load_seconds)
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        result.facts["database_bytes"] = cluster.scalar("SELECT pg_database_size(%s)", (DATABASE,))
        target = cluster.scalar("SELECT clock_timestamp()")
        time.sleep(GAP_SECONDS)
        t0 = time.time()
        with result.step("disaster", f"a destructive transaction: {DESTRUCTIVE}"):
            with cluster.connect(DATABASE, autocommit=False) as conn:
                conn.execute(DESTRUCTIVE)
                conn.commit()
        disaster_at = cluster.scalar("SELECT clock_timestamp()")
        old_timeline = current_timeline(cluster)
        workload.stop_and_sample()
        with result.step("pre-check", "archive a commit later than the target (pg_switch_wal, wait for the archiver)"):
            bound_physical_rpo(ctx, result, [archiving.timed_switch(cluster, timeout=60)])
        if ctx.faults.pitr_target:
            target = ctx.faults.pitr_target(target, backup)
        result.facts.update(recovery_target_time=format_target(target), destructive_commit_after=str(disaster_at))
        check_target_after_backup(cluster.archived_segments(), cluster.read_archive_file, backup, target)
        settings = {"recovery_target_time": format_target(target), "recovery_target_action": "promote"}
        if ctx.faults.pitr_settings:  # a self-test sends the server elsewhere
            settings = ctx.faults.pitr_settings(settings)
        restore_files(ctx, result, cluster, backup, settings)
        t_files = time.time()
        log_from = cluster.log_size()
        with result.step("step 5-6", "start PostgreSQL and monitor recovery until the first write"):
            t1 = basebackup.start_recovery(cluster, DATABASE, evidence=result.evidence)
        record_rto(result, t0, t_files, t1)
        result.facts["recovery_stop"] = stop_evidence(cluster, log_from)
        record_wal_replayed(result, cluster.log_since(log_from), backup)
        prove_now_is_no_proof(result, cluster, target)
        basebackup.reset_recovery_settings(result, cluster)
        if ctx.faults.before_verify:
            ctx.faults.before_verify(cluster)
        with result.step("step 7", "verify: where recovery stopped, markers exact around the target, checklist"):
            verify_all(ctx, result, cluster, snapshot, physical=True, old_timeline=old_timeline,
                       backup_check=backup_check)
            before_disaster = {a.seq for a in workload.writer.acks if a.acked_at < t0}
            present = workload.judge(result, cluster, acked=before_disaster)
            judge_stop_point(result, workload, target, present)

    return execute(result, body, ctx)


def confirm_stop(result: ScenarioResult) -> None:
    """The server must say where it stopped: 'recovery stopping before commit of transaction N, time T'."""
    if not str(result.facts.get("recovery_stop", "")).startswith("recovery stopping before commit"):
        result.find("PITR_STOP_UNCONFIRMED", "the server did not log 'recovery stopping before commit ...': "
                                             f"where recovery stopped is unproven ({result.facts.get('recovery_stop')!r})")


def judge_stop_point(result: ScenarioResult, workload, target: datetime, present: set[int]) -> None:
    """PITR is proved only by markers on both sides of the target and by the server's stop line."""
    confirm_stop(result)
    before = [s for s, ts in workload.commit_ts.items() if ts <= target.timestamp()]
    after = [s for s, ts in workload.commit_ts.items() if ts > target.timestamp()]
    if not before or not after:
        result.find("PITR_UNPROVEN", f"no markers committed {'before' if not before else 'after'} the target: "
                                     "exactness around it cannot be shown")
    missing, extra = pitr_exactness(workload.commit_ts, target.timestamp(), present)
    if missing:
        result.find("PITR_MISSED_COMMITS", f"{len(missing)} markers committed at or before the target are "
                                           f"missing (first {missing[0]})")
    if extra:
        result.find("PITR_OVERSHOT", f"{len(extra)} markers committed after the target are present "
                                     f"(first {extra[0]}): recovery went past the target")
    result.facts["pitr_exact"] = bool(before and after) and not missing and not extra
