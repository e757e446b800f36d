"""The monthly restore test of backups actually taken: the newest dump and the newest base backup under
--backup-dir, restored into scratch clusters this run owns, and verified.

With the manifest scripts/backup.sh writes, tables are compared with its row counts and content
hashes. Without one, the checks that need none, each named: the archive is complete, pg_restore's
exit code and stderr, missing roles or extensions, sequences behind, unpopulated matviews, an empty
restore, and the backup's age against the RPO target. The source directory and WAL archive are only
ever read: the restored server archives into the run's own directory, and the source is fingerprinted
before and after.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.installation import Installation
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.sql import SUPERUSER
from pgdrill.scenarios import basebackup, checklist
from pgdrill.scenarios.checks import run_check
from pgdrill.scenarios.common import DrillContext, execute
from pgdrill.scenarios.result import ScenarioResult

PLAIN_TRAILER = "-- PostgreSQL database dump complete"


def fingerprint(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*") if p.is_file()}


def newest_dump(backup_dir: Path) -> Path | None:
    candidates = [p for p in backup_dir.rglob("*") if (p.is_file() and p.suffix in (".dump", ".sql", ".tar")
                                                        and p.name != "globals.sql")
                  or (p.is_dir() and (p / "toc.dat").exists())]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def newest_base(backup_dir: Path) -> Path | None:
    candidates = [p.parent for p in backup_dir.rglob("base.tar.gz")]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def dump_format(path: Path) -> str:
    if path.is_dir():
        return "directory"
    head = path.read_bytes()[:512]
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar":
        return "tar"
    return "plain"


def manifest_for(path: Path) -> dict | None:
    for candidate in (path.parent / "manifest.json", path.parent.parent / "manifest.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return None


def without_superuser(globals_sql: Path, workdir: Path) -> Path:
    """A copy of the globals dump without the lines for the superuser the drill connects as.

    Restoring them would give the scratch server production's superuser password, and lock the drill out.
    """
    kept = [line for line in globals_sql.read_text().splitlines(keepends=True)
            if not line.startswith((f"CREATE ROLE {SUPERUSER};", f"ALTER ROLE {SUPERUSER} "))]
    copy = workdir / "globals-without-superuser.sql"
    copy.write_text("".join(kept))
    return copy


def host_tool(installation: Installation, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL tool of this host's installation, reading backup files of this host (never a server)."""
    return subprocess.run([installation.tool(name), *args], capture_output=True, text=True)


def check_complete(result: ScenarioResult, installation: Installation, dump: Path, kind: str) -> None:
    if kind == "plain":
        tail = dump.read_bytes()[-4096:].decode(errors="replace")
        if PLAIN_TRAILER not in tail:
            result.find("DUMP_TRUNCATED", f"{dump.name} is a plain SQL dump without pg_dump's completion trailer "
                                          f"('{PLAIN_TRAILER}'): it was cut short (psql would restore it with exit 0)")
        return
    out = host_tool(installation, "pg_restore", "-f", "/dev/null", str(dump))
    if out.returncode != 0:
        result.find("DUMP_TRUNCATED", f"{dump.name} ({kind} archive) cannot be read to the end: "
                                      f"{' '.join(out.stderr.split())[:200]}")


def judge_restore_errors(result: ScenarioResult, stderr: str, returncode: int) -> None:
    errors = [line.strip() for line in stderr.splitlines() if "ERROR" in line or "error:" in line]
    roles = sorted({line.split('role "')[1].split('"')[0] for line in errors if 'role "' in line and "does not exist" in line})
    if roles:
        result.find("ROLES_MISSING", f"the restore needs roles that exist neither on the server nor in the backup: "
                                     f"{', '.join(roles)} (no globals dump beside it)")
    if any("extension" in line or 'type "vector"' in line or 'type "public.vector"' in line for line in errors):
        result.find("EXTENSION_MISSING", "the restore needs an extension this server does not have: "
                    + next(line for line in errors if "extension" in line or "vector" in line))
    other = [line for line in errors if 'role "' not in line and "vector" not in line and "extension" not in line]
    if returncode != 0 or other:
        result.find("RESTORE_ERRORS", f"the restore reported {len(errors)} errors (exit {returncode})"
                                      + (f"; first other: {other[0][:160]}" if other else ""))


def check_restored(result: ScenarioResult, cluster: Cluster, dbname: str, manifest: dict | None) -> None:
    counts = {t: cluster.scalar(f"SELECT count(*) FROM {t}", dbname=dbname)
              for t in checklist.user_tables(cluster, dbname, matviews=False)}
    result.facts["tables"] = counts  # the evidence of what came back, in every schema
    if not counts or not any(counts.values()):
        result.find("EMPTY_RESTORE", f"the restored database {dbname} holds no rows ({len(counts)} tables)")
    unpopulated = cluster.query("SELECT matviewname FROM pg_matviews WHERE NOT ispopulated", dbname=dbname)
    if unpopulated:
        result.find("MATVIEW_UNPOPULATED", "materialized views not populated: " + ", ".join(r[0] for r in unpopulated))
    snap = checklist.Snapshot(dbname=dbname)
    result.checks.append(run_check("sequences not behind", lambda: checklist.check_sequences(cluster, snap)))
    if manifest and manifest.get("tables"):
        snap.tables = {name: (value["rows"], value["hash"]) for name, value in manifest["tables"].items()}
        result.checks.append(run_check("row counts and content hashes (against the backup's manifest)",
                                       lambda: checklist.check_row_counts_and_hashes(cluster, snap)))


def check_age(result: ScenarioResult, path: Path, manifest: dict | None) -> None:
    if manifest and manifest.get("finished_at"):
        taken = datetime.fromisoformat(manifest["finished_at"].replace("Z", "+00:00")).timestamp()
    else:
        taken = path.stat().st_mtime
    age = time.time() - taken
    result.facts["backup_age_seconds"] = round(age)
    if age > result.rpo_target_seconds:
        result.find("BACKUP_STALE", f"the newest backup {path.name} is {age / 3600:.1f} h old, older than the "
                                    f"RPO target {result.rpo_target_seconds / 3600:.1f} h")


def restore_dump(ctx: DrillContext, dump: Path) -> ScenarioResult:
    result = ctx.result("logical_restore", 1)
    result.id = "real_logical"

    def body(result: ScenarioResult) -> None:
        before = fingerprint(dump.parent)
        cluster = ctx.make_cluster("real-logical", seeded=False)
        manifest, kind = manifest_for(dump), dump_format(dump)
        result.facts.update(backup=str(dump), format=kind)
        with result.step("check", f"the {kind} dump is complete"):
            check_complete(result, ctx.installation, dump, kind)
        dbname = (manifest or {}).get("database") or "restored"
        t0 = time.time()
        with result.step("restore", "globals (when beside the dump), CREATE DATABASE, restore"):
            globals_sql = dump.parent / "globals.sql"
            if globals_sql.is_file():
                cluster.tool("psql", "-X", "-q", "-d", "postgres", stdin_path=without_superuser(globals_sql, ctx.workdir),
                             check=False)
            cluster.query(f'CREATE DATABASE "{dbname}"')
            if kind == "plain":
                out = cluster.tool("psql", "-X", "-q", "-d", dbname, stdin_path=dump, check=False)
            else:
                out = cluster.tool("pg_restore", "-d", dbname, stdin_path=dump, check=False)
            judge_restore_errors(result, out.stderr, out.returncode)
        result.rto_seconds = round(wait_until_writable(cluster, dbname) - t0, 3)
        ctx.fault("after_restore", dump)
        with result.step("verify", "restored content, age, and the source left untouched"):
            check_restored(result, cluster, dbname, manifest)
            check_age(result, dump, manifest)
            if fingerprint(dump.parent) != before:
                result.find("SOURCE_MODIFIED", f"files under {dump.parent} changed during the restore test")

    return execute(result, body, ctx)


def restore_base(ctx: DrillContext, base: Path, wal_archive: Path | None, target: str | None) -> ScenarioResult:
    result = ctx.result("pitr" if target else "physical_restore", 3 if target else 2)
    result.id = "real_physical"

    def body(result: ScenarioResult) -> None:
        sources = [p for p in (base, wal_archive) if p]
        before = {str(p): fingerprint(p) for p in sources}
        backup = basebackup.BaseBackup.read(base)
        manifest = manifest_for(base / "base.tar.gz")
        cluster = ctx.make_cluster("real-physical", seeded=False, start=False)
        result.facts.update(backup=str(base), wal_archive=str(wal_archive) if wal_archive else None)
        with result.step("check", "pg_verifybackup against backup_manifest"):
            verified = run_check("base backup verified (pg_verifybackup)",
                                 lambda: basebackup.verify(cluster, backup))
            result.checks.append(verified)
        if wal_archive:
            with result.step("check", "WAL archive continuity from the backup's start segment"):
                listing = {p.name: p.stat().st_size for p in wal_archive.iterdir() if p.is_file()}
                segments = basebackup.check_archive_continuity(sorted(listing), backup.start_segment, str(wal_archive))
                basebackup.check_segment_sizes(listing, segments)
                basebackup.check_archive_readable(
                    basebackup.host_waldump(ctx.installation.tool("pg_waldump"), wal_archive), segments)
        t0 = time.time()
        with result.step("restore", "extract, recovery.signal, restore_command reading the source archive"):
            cluster.wipe_data()
            basebackup.extract(cluster, backup)
            # the backup's own pg_hba.conf asks for production passwords the drill does not have: this scratch
            # server listens on 127.0.0.1 only and belongs to the run, so it trusts local TCP instead
            cluster.write_data_file("pg_hba.conf", "host all all 127.0.0.1/32 trust\n"
                                                   "host replication all 127.0.0.1/32 trust\n")
            cluster.write_data_file("recovery.signal", "")
            settings = {"restore_command": f"cp {wal_archive}/%f %p" if wal_archive else "/bin/false",
                        **cluster.runbook_settings()}  # archive into this run's own directory, never the source's
            if target:
                settings.update(recovery_target_time=target, recovery_target_action="promote")
            settings = ctx.fault("restored_settings", settings) or settings
            cluster.write_auto_conf(settings, append=True)
        t1 = basebackup.start_recovery(cluster, "postgres", evidence=result.evidence)
        result.rto_seconds = round(t1 - t0, 3)
        with result.step("verify", "the restored server, its archiving target, and the source left untouched"):
            archive_command = cluster.scalar("SHOW archive_command")
            if wal_archive and str(wal_archive) in archive_command:
                result.find("SOURCE_ARCHIVE_TARGETED", f"the restored server archives into the source archive: {archive_command}")
            dbname = (manifest or {}).get("database")
            if dbname:
                check_restored(result, cluster, dbname, manifest)
            check_age(result, base, manifest)
            for path in sources:
                if fingerprint(path) != before[str(path)]:
                    result.find("SOURCE_MODIFIED", f"files under {path} changed during the restore test")

    return execute(result, body, ctx)
