"""The regression gate for backup/restore scripts: a team's scripts run against a seeded cluster and are
judged exactly as the built-in scenarios are (checklist, RTO, RPO, PITR exactness), plus what a backup
must be.

What a backup script wrote is recognised by content, as the real-backup restore test does (dump
formats, base backup layouts, compression), so a cron `pg_dump | gzip` or a Barman store is judged
on what it did. A set that takes only one kind of backup is "not run" for the other kind. Each way
a script can fail has its own finding and sentence: it hangs, it fails, it exits 0 having written
nothing, its dump is truncated or of the wrong database, its files do not match its manifest, its
restore skips WAL replay or ends it early, its PITR misses the target.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.osuser import give_to_server, remove_tree
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.secret import redact, redacted_tail
from pgdrill.fixtures.seed import APP_ROLE, DATABASE
from pgdrill.scenarios.backups import basebackup, dumps, layouts
from pgdrill.scenarios.backups.basebackup import format_target
from pgdrill.scenarios.backups.script_set import ScriptSet
from pgdrill.scenarios.proofs import checklist
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.backup import (
    archive_segments_after_backup,
    archived_end_lsn,
    bound_rpo,
    correct_archiving,
)
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, keep_writing, verify_all
from pgdrill.scenarios.steps.recovery import Before, current_timeline, recover, source_snapshot
from pgdrill.scenarios.steps.restore import lose_data_directory, mark_target
from pgdrill.scenarios.verdicts.checks import NOT_RUN, Check, NotRun, run_check
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult


def run_script(kind: str, cmd: list[str], env: dict[str, str], timeout: float,
               closers: list[Callable[[], object]] | None = None, evidence: dict[str, str] | None = None,
               code: str | None = None) -> str:
    """Run a user's script in its own process group; name a hang or a failure; return its stdout.

    closers: where to register the killing of what the script leaves running in its group (a WAL receiver),
    done when the scenario ends. Such a process must not hold the script's stdout/stderr open: the script
    counts as running until they close. evidence: where a failed script's whole stderr goes (redacted); the
    finding's line keeps its end. code: the finding for a hang or a failure (default: KIND_SCRIPT_HUNG/_FAILED)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    if closers is not None:
        closers.append(lambda: kill_group(proc.pid))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise DrillFailure(code or f"{kind.upper()}_SCRIPT_HUNG", f"the {kind} script {cmd[0]} did not finish within "
                                                          f"{timeout:.0f} s and was killed") from None
    if proc.returncode != 0:
        if evidence is not None:
            evidence[f"{kind} script {Path(cmd[0]).name}: stderr"] = redact(err)
        raise DrillFailure(code or f"{kind.upper()}_SCRIPT_FAILED", f"the {kind} script {cmd[0]} exited {proc.returncode}: "
                                                            f"{redacted_tail(err)}")
    return out


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing of it is left


def check_manifest(manifest_path: Path) -> str:
    """Every file manifest.json lists is there, with its size and sha256."""
    backup_set = manifest_path.parent
    manifest = json.loads(manifest_path.read_text())
    for name, entry in manifest["files"].items():
        file = backup_set / name
        if not file.is_file():
            raise DrillFailure("BACKUP_MANIFEST_MISMATCH", f"{name} is in the manifest but not in {backup_set}")
        if file.stat().st_size != entry["bytes"] or sha256(file) != entry["sha256"]:
            raise DrillFailure("BACKUP_MANIFEST_MISMATCH", f"{name} has {file.stat().st_size} bytes / another sha256 "
                                                           f"than the manifest's {entry['bytes']} bytes")
    return f"{len(manifest['files'])} files match {manifest_path}"


def judge_manifest(result: ScenarioResult, scripts: ScriptSet, found: layouts.Found) -> None:
    """manifest.json: required by the reference contract, optional otherwise (with it, more is checked)."""
    path = dumps.find_manifest(found.path)
    if path is None and scripts.manifest_required:
        raise DrillFailure("BACKUP_NO_MANIFEST", f"{found.path.parent} has no manifest.json")
    if path is None:
        result.checks.append(Check("backup files match manifest.json", NOT_RUN,
                                   f"{scripts.name} writes no manifest.json (optional): sizes and sha256 not checked"))
        return
    result.checks.append(Check("backup files match manifest.json", "passed", check_manifest(path)))


def check_dump(ctx: DrillContext, result: ScenarioResult, found: layouts.Found, database: str) -> None:
    """Non-empty, readable to the end, and (when the format names it) of the expected database."""
    dump = found.path
    if dump.is_file() and dump.stat().st_size == 0:
        raise DrillFailure("BACKUP_EMPTY", f"{dump} is empty")
    if found.format.startswith("plain"):
        sql = dumps.readable_sql(dump, found.format, ctx.workdir, ctx.max_expansion)
        if sql.stat().st_size == 0:
            raise DrillFailure("BACKUP_EMPTY", f"{dump.name} decompresses to nothing: its pg_dump wrote nothing (a "
                                               "`pg_dump | gzip` pipeline without pipefail exits 0 when pg_dump fails)")
        dumps.check_complete(result, dumps.read_on_host(ctx.installation), sql, found.format)
    else:
        toc = dumps.host_tool(ctx.installation, "pg_restore", "-l", str(dump))
        named = next((line.split(":", 1)[1].strip() for line in toc.stdout.splitlines() if "dbname:" in line), None)
        if toc.returncode == 0 and named != database:
            raise DrillFailure("BACKUP_WRONG_DATABASE", f"{dump.name} is a dump of database {named!r}, not {database!r}")
        dumps.check_complete(result, dumps.read_on_host(ctx.installation), dump, found.format)
    truncated = [f for f in result.findings if f.code == "DUMP_TRUNCATED"]
    if truncated:
        raise DrillFailure("DUMP_TRUNCATED", truncated[0].message)


class Gate:
    """One gate run of a script set against one seeded cluster: the environment, the backup, the restore."""

    def __init__(self, ctx: DrillContext, result: ScenarioResult, scripts: ScriptSet, cluster: Cluster, kind: str,
                 timeout: float) -> None:
        self.ctx, self.result, self.scripts, self.cluster, self.kind, self.timeout = (
            ctx, result, scripts, cluster, kind, timeout)
        # beside the work dir, not in it: that one is the run user's alone, and a set whose tool drops to the
        # server's OS user (Barman does) must reach this one; it is that user's, 0700, on the local backend.
        # A plain name: Barman globs inside its directories, and a test id's [brackets] hide every file from it.
        self.backups = ctx.workdir.parent / f"gate-backups-{kind}-{secrets.token_hex(4)}"
        self.backups.mkdir(mode=0o700)
        ctx.closers.append(lambda: remove_tree(self.backups))
        if cluster.backend == "local":
            give_to_server(self.backups)
        self.env = {**cluster.script_env(), "PGDATABASE": DATABASE, "PGDRILL_BACKUP_DIR": str(self.backups),
                    "PGDRILL_BACKUP_KIND": "logical" if kind == "logical" else "physical"}
        self.read_back: archiving.ReadBack | None = None  # the set's archive, read through its restore_command

    def script(self, kind: str, path: Path, *args: str, env: dict[str, str] | None = None,
               code: str | None = None) -> str:
        return run_script(kind, [str(path), *args], env or self.env, self.timeout, self.ctx.closers,
                          self.result.evidence, code)

    def set_up(self) -> None:
        """The set's setup.sh, before its archive_command is applied: what its tool needs first (a stanza)."""
        if self.scripts.setup is None:
            return
        with self.result.step("setup", f"{self.scripts.setup.name} (the set's own; time limit {self.timeout:.0f} s)"):
            self.script("setup", self.scripts.setup)

    def use_archive_command(self) -> None:
        """The set's archive_command instead of the runbook's cp. Archiving is proved where the WAL goes: with the
        set's restore_command, a switched segment must come back through it (a tool's repository has no listing);
        without one, the set archives into the server's archive directory, and its listing shows the segment."""
        if self.scripts.archive_command is None:
            return
        command = self.scripts.expand(self.scripts.archive_command, self.env)
        if self.scripts.restore_command:
            self.read_back = archiving.ReadBack(self.cluster, self.scripts.expand(self.scripts.restore_command,
                                                                                  self.env))
        how = "read back through the set's restore_command" if self.read_back else "in the archive directory"
        with self.result.step("setup", f"archive_command = {command!r} (the set's own; a segment proved {how})"):
            archiving.set_archive_command(self.cluster, command)
            archiving.switch_and_wait(self.cluster, read_back=self.read_back)  # from here on every segment goes through it
        self.result.facts["archive_proved"] = how

    def backup(self) -> layouts.Found:
        """backup.sh, then what it wrote recognised by content: the newest backup of this gate's kind."""
        wanted = "logical" if self.kind == "logical" else "physical"
        with self.result.step("backup", f"{self.scripts.backup.name} (time limit {self.timeout:.0f} s)"):
            self.script("backup", self.scripts.backup)
            found = layouts.find_backups(self.backups)
            if found[wanted] is None:
                other = next((f for f in found.values() if f is not None), None)
                if other is not None:
                    raise NotRun(f"{self.scripts.name} takes no {wanted} backup: it wrote a {other.format} "
                                 f"{other.kind} one ({other.path.name})")
                raise DrillFailure("BACKUP_EMPTY", f"the backup script exited 0 but wrote no backup into "
                                                   f"{self.backups} (looked by content for dumps and base backups)")
            chosen = found[wanted]
            assert chosen is not None
            self.result.facts.update(backup_format=chosen.format, backup=str(chosen.path.relative_to(self.backups)))
        return chosen

    def restore(self, found: layouts.Found, target: str | None = None) -> None:
        """restore.sh --mode M --backup latest, with PGDRILL_BACKUP_PATH naming the backup the gate found; for a
        physical restore the set's restore_command is then appended to postgresql.auto.conf."""
        env = {**self.env, "PGDRILL_BACKUP_PATH": str(found.path), **({"PGDRILL_TARGET_TIME": target} if target else {})}
        mode = "logical" if self.kind == "logical" else "physical"
        with self.result.step("restore", f"{self.scripts.restore.name} --mode {mode} --backup latest"
                                         + (f" (PGDRILL_TARGET_TIME={target})" if target else "")):
            self.script("restore", self.scripts.restore, "--mode", mode, "--backup", "latest", env=env)
            if mode == "physical" and self.scripts.restore_command:
                command = self.scripts.expand(self.scripts.restore_command, self.env)
                self.cluster.write_auto_conf({"restore_command": command}, append=True)
                self.result.facts["restore_command"] = command


    def verify(self, found: layouts.Found, default: Callable[[], str] | None = None) -> Check:
        """The backup checked by the set's verify.sh (the tool's own verification) when it has one, else by default
        (pg_verifybackup for a base backup); a backup its own tool rejects is BACKUP_VERIFY_FAILED."""
        if self.scripts.verify is None:
            name = "base backup verified (pg_verifybackup)"
            return run_check(name, default) if default else Check(name, NOT_RUN, "the set has no verify.sh")
        name = f"backup verified by the set's {self.scripts.verify.name}"
        env = {**self.env, "PGDRILL_BACKUP_PATH": str(found.path)}
        with self.result.step("backup", f"{self.scripts.verify.name} (the tool's own verification)"):
            try:
                said = self.script("verify", self.scripts.verify, env=env, code="BACKUP_VERIFY_FAILED")
            except DrillFailure as exc:  # judged, then on to the restore: the restore is the proof that counts most
                self.result.find(exc.code, f"{self.scripts.verify.name} rejects the backup {found.path.name}: {exc}")
                return Check(name, "failed", str(exc))
        return Check(name, "passed", redacted_tail(said, 200) or "exit 0")


def takes(scripts: ScriptSet, kind: str) -> None:
    """NotRun when the set's `kind` file says it takes no backup of this kind."""
    if kind not in scripts.kinds:
        raise NotRun(f"{scripts.name} takes no {kind} backup: its kind file names {', '.join(sorted(scripts.kinds))}")


def run_logical(ctx: DrillContext, scripts: ScriptSet, timeout: float) -> ScenarioResult:
    result = ctx.result("logical_restore", 1)
    result.id = "gate_logical"

    def body(result: ScenarioResult) -> None:
        takes(scripts, "logical")
        cluster = ctx.make_cluster("gate-logical")
        gate = Gate(ctx, result, scripts, cluster, "logical", timeout)
        gate.set_up()
        gate.use_archive_command()  # the set's archiving, whichever backup this test takes
        result.bound_rpo(ctx.targets["logical_restore"].dump_interval_seconds,
                         "a logical restore loses everything since the last dump: the dump interval "
                         "(targets: logical_restore.dump_interval)")
        workload = Workload(ctx, cluster)
        snapshot = checklist.take_snapshot(cluster, DATABASE)
        found = gate.backup()
        check_dump(ctx, result, found, DATABASE)  # what the dump is comes first, then whether it matches its manifest
        judge_manifest(result, scripts, found)
        if scripts.verify:
            result.checks.append(gate.verify(found))
        keep_writing(ctx.load_seconds)
        workload.stop_and_sample()
        t0 = time.time()
        with result.step("disaster", "the database is dropped, and its owner role with it"):
            cluster.query(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            cluster.query(f"DROP ROLE {APP_ROLE}")
        gate.restore(found)
        result.rto_seconds = round(wait_until_writable(cluster, DATABASE) - t0, 3)
        with result.step("verify", "recovery verification checklist"):
            verify_all(replace(ctx, read_back=gate.read_back), result, cluster, snapshot, physical=False,
                       old_timeline=None, backup_check=None)  # archiving after recovery, where the set archives
            workload.judge(result, cluster)

    return execute(result, body, ctx)


def run_physical(ctx: DrillContext, scripts: ScriptSet, timeout: float, pitr: bool = False) -> ScenarioResult:
    """To the end of the archive, or (pitr) to a target between markers: the set's backup and restore, then the
    pipeline every physical recovery goes through (steps.recovery)."""
    result = ctx.result("pitr" if pitr else "physical_restore", 3 if pitr else 2)
    result.id = "gate_pitr" if pitr else "gate_physical"

    def body(result: ScenarioResult) -> None:
        takes(scripts, "physical")
        cluster = ctx.make_cluster(result.id.replace("_", "-"))
        correct_archiving(ctx, result, cluster)
        gate = Gate(ctx, result, scripts, cluster, "pitr" if pitr else "physical", timeout)
        gate.set_up()
        gate.use_archive_command()
        judged = replace(ctx, read_back=gate.read_back)  # the pipeline proves the archive where the set keeps it
        workload = Workload(ctx, cluster)
        found = gate.backup()
        judge_manifest(result, scripts, found)
        backup = basebackup.read_base(found)
        backup_check = gate.verify(found, lambda: basebackup.verify_base(cluster, backup))
        delays = archive_segments_after_backup(judged, result, cluster)
        snapshot = source_snapshot(result, cluster)
        target = mark_target(cluster) if pitr else None
        disaster_at = time.time()  # where a destructive commit would be: markers after it are not the RPO's
        timeline = current_timeline(cluster)
        workload.stop_and_sample()
        if target:  # recovery stops only at a commit after the target, which must be archived
            delays.append(archiving.timed_switch(cluster, timeout=60, read_back=gate.read_back))
            result.facts["recovery_target_time"] = format_target(target)
        bound_rpo(ctx, result, delays)
        before = Before(snapshot, timeline, workload, backup_check, archived_until=archived_end_lsn(cluster),
                        target=target, disaster_at=disaster_at if target else None)
        t0 = time.time()
        lose_data_directory(result, cluster)
        gate.restore(found, format_target(target) if target else None)
        recover(judged, result, cluster, backup, before, t0)

    return execute(result, body, ctx)
