"""Scenario 1 — Restore from Logical Backup (pg_dump), as the runbook orders it, corrected for PG16.

Runbook: backup with pg_dump -Fc (plus its -s and -t variants); 1 stop services; 2 drop and recreate
the database; 3 pg_restore; 4 verify; 5 restart services. Corrections: roles come from a
`pg_dumpall --globals-only` taken with the dump (ROLES_NOT_IN_DUMP), the drop uses WITH (FORCE)
(DROP_DATABASE_IN_USE), and pg_restore runs with --exit-on-error (RESTORE_ERRORS_IGNORED).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.progress import copy_and_index
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.seed import APP_ROLE, DATABASE, index_build_settings
from pgdrill.scenarios.proofs import checklist
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, keep_writing, verify_all
from pgdrill.scenarios.verdicts.hnsw import spilled_builds
from pgdrill.scenarios.verdicts.result import WARNING, DrillFailure, ScenarioResult

SCENARIO = "logical_restore"
TRUNCATION_SIGNS = ("could not read from input file", "unexpected end of file", "end of file",
                    "could not find block ID", "invalid compressed data", "corrupt")


def restore_error(stderr: str) -> DrillFailure:
    """Name why pg_restore stopped: a truncated/corrupt archive, or another restore error."""
    errors = [line for line in stderr.splitlines() if "error:" in line]
    first = errors[0].split("error:", 1)[1].strip() if errors else " ".join(stderr.split())[:200]
    if any(sign in stderr for sign in TRUNCATION_SIGNS):
        return DrillFailure("DUMP_TRUNCATED", f"the dump is truncated or corrupt: pg_restore stopped with: {first}")
    return DrillFailure("RESTORE_FAILED", f"pg_restore --exit-on-error stopped with: {first}")


def restore_globals(cluster: Cluster, path) -> None:
    """Run the globals dump; "already exists" for roles that survived is fine, anything else is not."""
    out = cluster.tool("psql", "-X", "-q", "-d", "postgres", stdin_path=path, check=False)
    errors = [line for line in out.stderr.splitlines() if "ERROR:" in line and "already exists" not in line]
    if errors:
        raise DrillFailure("ROLES_RESTORE_FAILED", f"restoring roles from {path.name} failed: {errors[0]}")


# pg_dump's archives SET client_min_messages = warning, so pg_restore never hears a NOTICE: the restore
# session sends its notices to the server log instead, where the drill reads them
HEAR_NOTICES = {"log_min_messages": "notice"}


def restore_dump(cluster: Cluster, dump: Path, jobs: int, *extra: str,
                 settings: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pg_restore --exit-on-error -v into DATABASE: with jobs > 1 in parallel (-j), from the dump staged where the
    server's tools read it (a parallel restore needs a seekable file); with 1, streamed through stdin."""
    if jobs > 1:
        return cluster.tool("pg_restore", "--exit-on-error", "-v", "-j", str(jobs), *extra, "-d", DATABASE,
                            cluster.stage_file(dump), check=False, settings=settings)
    return cluster.tool("pg_restore", "--exit-on-error", "-v", *extra, "-d", DATABASE, stdin_path=dump, check=False,
                        settings=settings)


def run(ctx: DrillContext) -> ScenarioResult:
    result = ctx.result(SCENARIO, 1)

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("s1-logical")
        result.bound_rpo(ctx.targets[SCENARIO].dump_interval_seconds,
                         "a logical restore loses everything since the last dump: the dump interval "
                         "(targets: logical_restore.dump_interval)")
        dump, globals_sql = ctx.workdir / "agentic_platform.dump", ctx.workdir / "globals.sql"
        workload = Workload(ctx, cluster)
        keep_writing(ctx.load_seconds / 2)
        with result.step("backup", "pg_dumpall --globals-only (roles are not in pg_dump)"):
            cluster.tool("pg_dumpall", "--globals-only", stdout_path=globals_sql)
        inserts = ["--inserts"] if ctx.dump_inserts else []
        with result.step("backup", f"pg_dump -Fc {' '.join(inserts)} agentic_platform".replace("  ", " ")):
            cluster.tool("pg_dump", "-Fc", *inserts, "-d", DATABASE, stdout_path=dump)
        with result.step("backup", "pg_dump -s agentic_platform (schema only)"):
            cluster.tool("pg_dump", "-s", "-d", DATABASE, stdout_path=ctx.workdir / "schema.sql")
        with result.step("backup", "pg_dump -t agents -t goals agentic_platform (selected tables)"):
            cluster.tool("pg_dump", "-t", "agents", "-t", "goals", "-d", DATABASE, stdout_path=ctx.workdir / "tables.sql")
        result.facts["dump_bytes"] = dump.stat().st_size
        if ctx.faults.after_dump:
            ctx.faults.after_dump(dump)
        keep_writing(ctx.load_seconds / 2)
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        result.facts["database_bytes"] = cluster.scalar("SELECT pg_database_size(%s)", (DATABASE,))
        workload.stop_and_sample()

        t0 = time.time()
        with result.step("disaster", "the database is dropped, and its owner role with it"):
            cluster.query(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            cluster.query(f"DROP ROLE {APP_ROLE}")
        with result.step("step 1", "stop services that connect to the database (terminate sessions)"):
            cluster.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (DATABASE,))
        with result.step("step 2", "drop and recreate the database (DROP ... WITH (FORCE))"):
            cluster.query(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            cluster.query(f"CREATE DATABASE {DATABASE}")
        with result.step("step 2a", "restore roles from the globals dump"):
            restore_globals(cluster, globals_sql)
        with result.step("step 3", "pg_restore --exit-on-error"):
            time.sleep(ctx.restore_delay)
            extra = ctx.faults.restore_options() if ctx.faults.restore_options else []  # --no-owner ...
            settings, log_from = index_build_settings(ctx.restore_memory), cluster.log_size()
            with ctx.progress.watch(cluster, "pg_restore", copy_and_index, DATABASE):
                out = restore_dump(cluster, dump, ctx.restore_jobs, *extra, settings=settings | HEAR_NOTICES)
            result.facts["restore_jobs"] = ctx.restore_jobs
            result.facts["restore_settings"] = " ".join(f"{k}={v}" for k, v in settings.items()) or "the server's"
            result.evidence["pg_restore --exit-on-error -v"] = out.stderr[-20000:]
            if out.returncode != 0:
                raise restore_error(out.stderr)
            for notice in spilled_builds(cluster.log_since(log_from)):
                result.find("HNSW_BUILD_SPILLED", f"{notice} (restore session: {result.facts['restore_settings']}): "
                            "the build went on on disk, several times slower; raise --restore-memory", WARNING)
        t1 = wait_until_writable(cluster, DATABASE)
        result.rto_seconds = round(t1 - t0, 3)
        result.phases = {"restore": round(t1 - t0, 3)}
        if ctx.faults.before_verify:
            ctx.faults.before_verify(cluster)
        with result.step("step 4", "verify restoration (recovery verification checklist)"):
            verify_all(ctx, result, cluster, snapshot, physical=False, old_timeline=None, backup_check=None)
            workload.judge(result, cluster)

    return execute(result, body, ctx)
