"""The regression gate for backup/restore scripts: a user's scripts run against a seeded cluster and are
judged exactly as the built-in scenarios are (checklist, RTO, RPO), plus what a backup must be.

Each way a script can fail has its own finding and sentence: it hangs, it fails, it exits 0 having
written nothing, its dump is truncated or of the wrong database, its files do not match its manifest,
its restore skips WAL replay (archived commits lost, no new timeline).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.seed import APP_ROLE, DATABASE
from pgdrill.scenarios import basebackup, checklist, replay
from pgdrill.scenarios.checks import Check
from pgdrill.scenarios.common import DrillContext, Workload, execute, verify_all
from pgdrill.scenarios.physical import (
    archive_segments_after_backup,
    archived_end_lsn,
    bound_physical_rpo,
    correct_archiving,
    current_timeline,
    record_rto,
    verify_physical,
)
from pgdrill.scenarios.result import DrillFailure, ScenarioResult


def run_script(kind: str, cmd: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a user's script in its own process group; name a hang or a failure; return its stdout."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise DrillFailure(f"{kind.upper()}_SCRIPT_HUNG", f"the {kind} script {cmd[0]} did not finish within "
                                                          f"{timeout:.0f} s and was killed") from None
    if proc.returncode != 0:
        raise DrillFailure(f"{kind.upper()}_SCRIPT_FAILED", f"the {kind} script {cmd[0]} exited {proc.returncode}: "
                                                            f"{' '.join(err.split())[-300:]}")
    return out


def newest_set(backup_dir: Path, before: set[str]) -> Path:
    fresh = sorted(p for p in backup_dir.iterdir() if p.is_dir() and p.name not in before
                   and not p.name.endswith(".partial"))
    if not fresh:
        raise DrillFailure("BACKUP_EMPTY", f"the backup script exited 0 but wrote no backup set into {backup_dir}")
    return fresh[-1]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_dump(cluster: Cluster, dump: Path, database: str) -> None:
    """Non-empty, readable to the end, and of the expected database."""
    if not dump.is_file() or dump.stat().st_size == 0:
        raise DrillFailure("BACKUP_EMPTY", f"{dump} is missing or empty")
    toc = cluster.tool("pg_restore", "-l", stdin_path=dump, check=False)  # the server's own pg_restore
    if toc.returncode != 0:
        raise DrillFailure("DUMP_TRUNCATED", f"{dump.name} is not a readable archive: {' '.join(toc.stderr.split())[:200]}")
    named = next((line.split(":", 1)[1].strip() for line in toc.stdout.splitlines() if "dbname:" in line), None)
    if named != database:
        raise DrillFailure("BACKUP_WRONG_DATABASE", f"{dump.name} is a dump of database {named!r}, not {database!r}")
    full = cluster.tool("pg_restore", "-f", "/dev/null", stdin_path=dump, check=False)
    if full.returncode != 0:
        raise DrillFailure("DUMP_TRUNCATED", f"{dump.name} is truncated or corrupt: pg_restore cannot read it to the "
                                             f"end: {' '.join(full.stderr.split())[:200]}")


def check_manifest(backup_set: Path) -> dict:
    path = backup_set / "manifest.json"
    if not path.is_file():
        raise DrillFailure("BACKUP_NO_MANIFEST", f"{backup_set} has no manifest.json")
    manifest = json.loads(path.read_text())
    for name, entry in manifest["files"].items():
        file = backup_set / name
        if not file.is_file():
            raise DrillFailure("BACKUP_MANIFEST_MISMATCH", f"{name} is in the manifest but not in {backup_set}")
        if file.stat().st_size != entry["bytes"] or sha256(file) != entry["sha256"]:
            raise DrillFailure("BACKUP_MANIFEST_MISMATCH", f"{name} has {file.stat().st_size} bytes / another sha256 "
                                                           f"than the manifest's {entry['bytes']} bytes")
    return manifest


def run_logical(ctx: DrillContext, backup_script: Path, restore_script: Path, timeout: float) -> ScenarioResult:
    result = ctx.result("logical_restore", 1)
    result.id = "gate_logical"

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("gate-logical")
        result.bound_rpo(ctx.targets["logical_restore"].dump_interval_seconds,
                         "a logical restore loses everything since the last dump: the dump interval "
                         "(targets: logical_restore.dump_interval)")
        backups = ctx.workdir / "backups"
        backups.mkdir()
        env = {**cluster.script_env(), "PGDATABASE": DATABASE, "PGDRILL_BACKUP_DIR": str(backups)}
        workload = Workload(ctx, cluster)
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        with result.step("backup", f"{backup_script.name} --logical-only (time limit {timeout:.0f} s)"):
            run_script("backup", [str(backup_script), "--logical-only"], env, timeout)
            backup_set = newest_set(backups, set())
            check_dump(cluster, backup_set / f"{DATABASE}.dump", DATABASE)
            check_manifest(backup_set)
        time.sleep(ctx.load_seconds)
        workload.stop_and_sample()
        t0 = time.time()
        with result.step("disaster", "the database is dropped, and its owner role with it"):
            cluster.query(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            cluster.query(f"DROP ROLE {APP_ROLE}")
        with result.step("restore", f"{restore_script.name} --mode logical --backup latest"):
            run_script("restore", [str(restore_script), "--mode", "logical", "--backup", "latest"], env, timeout)
        result.rto_seconds = round(wait_until_writable(cluster, DATABASE) - t0, 3)
        with result.step("verify", "recovery verification checklist"):
            verify_all(ctx, result, cluster, snapshot, physical=False, old_timeline=None, backup_check=None)
            workload.judge(result, cluster)

    return execute(result, body, ctx)


def run_physical(ctx: DrillContext, backup_script: Path, restore_script: Path, timeout: float) -> ScenarioResult:
    result = ctx.result("physical_restore", 2)
    result.id = "gate_physical"

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster("gate-physical")
        correct_archiving(ctx, result, cluster)
        backups = ctx.workdir / "backups"
        backups.mkdir()
        env = {**cluster.script_env(), "PGDATABASE": DATABASE, "PGDRILL_BACKUP_DIR": str(backups)}
        workload = Workload(ctx, cluster)
        with result.step("backup", f"{backup_script.name} --physical-only (time limit {timeout:.0f} s)"):
            run_script("backup", [str(backup_script), "--physical-only"], env, timeout)
            backup_set = newest_set(backups, set())
            check_manifest(backup_set)
            backup = basebackup.BaseBackup.read(backup_set / "base")
            backup_check = basebackup.verify(cluster, backup)
        bound_physical_rpo(ctx, result, archive_segments_after_backup(ctx, result, cluster))
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        old_timeline = current_timeline(cluster)
        workload.stop_and_sample()
        archived_until = archived_end_lsn(cluster)
        t0 = time.time()
        with result.step("disaster", "the server crashes and its data directory is lost; the WAL archive survives"):
            cluster.crash()
            cluster.wipe_data()
        with result.step("restore", f"{restore_script.name} --mode physical --backup latest"):
            run_script("restore", [str(restore_script), "--mode", "physical", "--backup", "latest"], env, timeout)
        t_files = time.time()
        archived = cluster.archived_segments()
        log_from = cluster.log_size()
        with result.step("start", "start PostgreSQL and wait for the first write"):
            t1 = basebackup.start_recovery(cluster, DATABASE, evidence=result.evidence)
        record_rto(result, t0, t_files, t1)
        replay.prove_archive_end_reached(result, cluster.log_since(log_from), archived, backup.timeline)
        with result.step("verify", "recovery verification checklist"):
            verify_physical(ctx, result, cluster, snapshot, old_timeline,
                            Check("base backup verified (pg_verifybackup)", "passed", backup_check),
                            workload, archived_until)
            if cluster.scalar("SELECT timeline_id FROM pg_control_checkpoint()") == old_timeline:
                result.find("WAL_REPLAY_SKIPPED", "the restore did not run archive recovery: the server came up on "
                                                  "the old timeline with only the backup's own WAL")

    return execute(result, body, ctx)
