"""Scenario 3 — Point-in-Time Recovery to just before a destructive transaction.

Runbook: 1 stop; 2 restore the base backup (Scenario 2 steps 2-3); 3 `cat >` postgresql.auto.conf
with restore_command and recovery_target_time; 4 recovery.signal; 5 start; 6 monitor; 7 verify
with `SELECT now()`. Corrections: settings appended, not `cat >` (AUTO_CONF_OVERWRITTEN); the
target carries an explicit UTC offset (a bare time is read in the server's TimeZone) and a later commit is
archived before recovery (recovery stops only at a commit past the target); where recovery stopped is proved by
the server's "recovery stopping before commit" line and by the markers, exact in both directions (NOW_AS_PITR_PROOF).
"""

from __future__ import annotations

import time
from datetime import datetime

from pgdrill.fixtures.contract import Cluster
from pgdrill.scenarios.backups.basebackup import check_target_after_backup, format_target
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.backup import backup_and_prove, bound_rpo, correct_archiving, settled
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, keep_writing
from pgdrill.scenarios.steps.recovery import Before, Steps, current_timeline, recover, source_snapshot
from pgdrill.scenarios.steps.restore import destroy, mark_target, restore_files
from pgdrill.scenarios.verdicts.result import RunbookDefect, ScenarioResult

SCENARIO = "pitr"
STEPS = Steps(start=("step 5-6", "start PostgreSQL and monitor recovery until the first write"), prove="step 6a",
              reset="step 6b", verify=("step 7", "verify: where recovery stopped, markers exact around the target, "
                                                 "checklist"))


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
        keep_writing(ctx.load_seconds)
        snapshot = source_snapshot(result, cluster)
        target = mark_target(cluster)
        verified = settled(result, backup_check)
        t0 = time.time()
        destroy(result, cluster)
        result.facts["destructive_commit_after"] = str(cluster.scalar("SELECT clock_timestamp()"))
        timeline = current_timeline(cluster)
        workload.stop_and_sample()
        with result.step("pre-check", "archive a commit later than the target (pg_switch_wal, wait for the archiver)"):
            bound_rpo(ctx, result, [archiving.timed_switch(cluster, timeout=60)])
        if ctx.faults.pitr_target:
            target = ctx.faults.pitr_target(target, backup)
        result.facts["recovery_target_time"] = format_target(target)
        check_target_after_backup(cluster.archived_segments(), cluster.read_archive_file, backup, target)
        settings = {"recovery_target_time": format_target(target), "recovery_target_action": "promote"}
        if ctx.faults.pitr_settings:  # a self-test sends the server elsewhere
            settings = ctx.faults.pitr_settings(settings)
        restore_files(ctx, result, cluster, backup, settings)
        before = Before(snapshot, timeline, workload, verified, target=target, disaster_at=t0)
        recover(ctx, result, cluster, backup, before, t0, STEPS)
        prove_now_is_no_proof(result, cluster, target)

    return execute(result, body, ctx)
