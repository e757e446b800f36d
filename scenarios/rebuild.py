"""Scenario 4 — Complete System Rebuild: container and data volume destroyed, rebuilt from backups.

Runbook: 1 save the WAL archive out of the container; 2 stop, rm the container, rm the data
volume; 3 recreate the service with docker-compose; 4 `sleep 30`; 5 restore the base backup; 6 docker
cp the archive back; 7 PITR; 8 restart dependent services. Corrections: the base backup and the
saved archive go into the new volumes *before* `up` (the entrypoint would otherwise initdb a new
system whose WAL the old archive cannot continue), readiness is a real write, not `sleep 30`, the archive is
chowned to postgres after the copy (ARCHIVE_NOT_ON_VOLUME), and the dependent service is really
restarted and its /health really asked.
"""

from __future__ import annotations

import time

from pgdrill.fixtures import cost
from pgdrill.fixtures.docker_cluster import DockerCluster
from pgdrill.scenarios.backups import basebackup, wal
from pgdrill.scenarios.steps.backup import (
    archive_segments_after_backup,
    archived_end_lsn,
    backup_and_prove,
    bound_rpo,
    correct_archiving,
    settled,
)
from pgdrill.scenarios.steps.common import DrillContext, Workload, beside, execute
from pgdrill.scenarios.steps.recovery import (
    Before,
    Steps,
    current_timeline,
    judge,
    record_rto,
    source_snapshot,
    start_and_prove,
)
from pgdrill.scenarios.steps.restore import restore_command
from pgdrill.scenarios.verdicts.result import INFO, RunbookDefect, ScenarioResult

SCENARIO = "complete_rebuild"
STEPS = Steps(start=("step 3-4", "docker-compose up -d postgres; wait for the first write (not sleep 30)"),
              prove="step 7a", reset="step 7b",
              verify=("verify", "recovery verification checklist, with the application's health URL"))


def prove_exec_on_stopped_container(result: ScenarioResult, cluster: DockerCluster) -> None:
    """The runbook's Scenario 2 step 2, literally, on the stopped container."""
    out = cluster.tool_raw(["docker", "exec", cluster.container_name, "rm", "-rf", "/var/lib/postgresql/data/*"])
    if out.returncode != 0 and "is not running" in out.stderr:
        result.runbook_defects.append(RunbookDefect(
            "EXEC_ON_STOPPED_CONTAINER", "physical_restore",
            "Scenario 2 steps 2-5 `docker exec` after `docker stop`: nothing is wiped or extracted, and "
            "`docker start` boots the old data", "do file work in a helper container on the same volume "
            "(docker run --rm -v DATAVOL:/var/lib/postgresql/data ...); docker stop -t 120",
            " ".join(out.stderr.split())[:200]))


def prove_archive_not_on_volume(result: ScenarioResult, cluster: DockerCluster) -> None:
    """The image declares a volume only for the data directory: an archive inside the container dies with it."""
    declared = sorted(cluster.client.images.get(cluster.image).attrs["Config"].get("Volumes") or {})
    if "/var/lib/postgresql/wal_archive" not in declared:
        result.runbook_defects.append(RunbookDefect(
            "ARCHIVE_NOT_ON_VOLUME", SCENARIO,
            "the archive at /var/lib/postgresql/wal_archive is not a volume of the image: without a volume of its "
            "own it lives in the container's writable layer and `docker rm` deletes it",
            "mount the archive on its own (ideally off-host) volume; chown -R postgres after docker cp",
            f"{cluster.image} declares VOLUME {', '.join(declared) or 'nothing'}"))


def loss_without_saved_archive(result: ScenarioResult, workload: Workload, backup) -> None:
    """What skipping step 1 would cost: every acknowledged commit after the base backup's end."""
    after_backup = sorted(s for s in workload.acked if wal.parse_lsn(workload.lsn[s]) > backup.end_lsn)
    if after_backup:
        span = workload.commit_ts[after_backup[-1]] - workload.commit_ts[after_backup[0]]
        result.find("ARCHIVE_NOT_SAVED_LOSS", f"without step 1 (saving the WAL archive) this rebuild would lose "
                                              f"{len(after_backup)} acknowledged transactions ({span:.1f} s of commits "
                                              f"after the base backup)", INFO)


def run(ctx: DrillContext, compose, app) -> ScenarioResult:
    """compose: the platform's compose service (up/stop/rm); app: the dependent service with /health."""
    result = ctx.result(SCENARIO, 4)

    def body(result: ScenarioResult) -> None:
        cluster = compose.cluster
        with result.step("setup", "docker-compose up -d postgres (the platform as it runs)"):
            compose.up()
        app.start()
        ctx.health_urls = (*ctx.health_urls, app.url)
        correct_archiving(ctx, result, cluster)
        workload = Workload(ctx, cluster)
        backup, backup_check = backup_and_prove(ctx, result, cluster)
        bound_rpo(ctx, result, archive_segments_after_backup(ctx, result, cluster))  # archived under load
        snapshot, timeline = source_snapshot(result, cluster), current_timeline(cluster)
        workload.stop_and_sample()
        before = Before(snapshot, timeline, workload, settled(result, backup_check), archived_until=archived_end_lsn(cluster))
        saved = ctx.workdir / "wal_archive_saved"

        t0 = time.time()
        with result.step("step 1", "save the WAL archive out of the container (docker cp)"):
            cluster.save_archive(saved)
        with result.step("step 2", "docker stop -t 120, docker rm, docker volume rm (data and archive)"):
            app.stop()
            cluster.stop("fast")
            prove_exec_on_stopped_container(result, cluster)
            cluster.remove_container()
            cluster.remove_volumes()
        if ctx.faults.after_rebuild_disaster:
            ctx.faults.after_rebuild_disaster(cluster, saved)
        with result.step("step 5-6", "new volumes; base backup and saved archive restored into them before `up`"):
            cluster.create_volumes()
            basebackup.extract(cluster, backup)
            cluster.restore_archive(saved)
        checked = beside(ctx, "archive-check", lambda: basebackup.check_cluster_archive(cluster, backup))
        with result.step("step 7", "recovery.signal; restore_command appended to postgresql.auto.conf"):
            cluster.write_data_file("recovery.signal", "")
            cluster.write_auto_conf({"restore_command": restore_command(ctx, cluster)}, append=True)
        with result.step("pre-check", "restored archive continuity and readability from the backup's start segment "
                                      "(checked while step 7 ran)"), cost.drill("archive pre-check (continuity, pg_waldump)"):
            checked.result()
        t_files = time.time()
        t1 = start_and_prove(ctx, result, cluster, backup, target=None, launch=lambda: compose.up(wait=False),
                             steps=STEPS)
        record_rto(result, t0, t_files, t1)
        with result.step("step 8", "restart dependent services and ask their /health"):
            app.start()
        judge(ctx, result, cluster, before, STEPS)
        loss_without_saved_archive(result, workload, backup)
        prove_archive_not_on_volume(result, cluster)

    return execute(result, body, ctx)
