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

from pgdrill.scenarios.steps.backup import (
    archive_segments_after_backup,
    archived_end_lsn,
    backup_and_prove,
    bound_rpo,
    correct_archiving,
    settled,
)
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute
from pgdrill.scenarios.steps.recovery import Before, Steps, current_timeline, recover, source_snapshot
from pgdrill.scenarios.steps.restore import lose_data_directory, restore_files
from pgdrill.scenarios.verdicts.result import ScenarioResult

SCENARIO = "physical_restore"
STEPS = Steps(start=("step 6-7", "start PostgreSQL and monitor recovery until the first write"), prove="step 7a",
              reset="step 7b", verify=("step 8", "verify (recovery verification checklist)"))


def run(ctx: DrillContext) -> ScenarioResult:
    result = ctx.result(SCENARIO, 2)

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("s2-physical")
        correct_archiving(ctx, result, cluster)
        workload = Workload(ctx, cluster)
        backup, backup_check = backup_and_prove(ctx, result, cluster)
        bound_rpo(ctx, result, archive_segments_after_backup(ctx, result, cluster))
        snapshot, timeline = source_snapshot(result, cluster), current_timeline(cluster)
        workload.stop_and_sample()
        before = Before(snapshot, timeline, workload, settled(result, backup_check), archived_until=archived_end_lsn(cluster))

        t0 = time.time()
        lose_data_directory(result, cluster)
        if ctx.faults.after_disaster:
            ctx.faults.after_disaster(cluster, backup)
        restore_files(ctx, result, cluster, backup, {})
        recover(ctx, result, cluster, backup, before, t0, STEPS)

    return execute(result, body, ctx)
