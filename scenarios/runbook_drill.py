"""The team's runbook is the drill: its backup section and a scenario's steps run as written, in the sandbox (the
runbook shell container, its docker mapped to the run's own objects), after the disaster the corrected drills
inject; then the recovery is judged by the same judge as theirs.

A step that exits non-zero ends the scenario: RUNBOOK_STEP_FAILED, "fails as written at step N (lines a-b)", with
the command, exit status, output tail, and the known defects whose shape is written on those lines (with what each means).
A step with no command (it refers elsewhere) and an interactive one are listed "not run", with why.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import psycopg

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.sandbox.shell import Sandbox, StepRun
from pgdrill.fixtures.secret import redacted_tail
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios.backups.basebackup import format_target
from pgdrill.scenarios.runbook.document import Runbook, Scenario, Step
from pgdrill.scenarios.runbook.objects import RunbookObjects, archive_directory, objects_of
from pgdrill.scenarios.runbook.signatures import SIGNATURES, sightings
from pgdrill.scenarios.runbook.values import NothingMatches, substitute
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.backup import archived_end_lsn
from pgdrill.scenarios.steps.common import DrillContext, Workload, execute, keep_writing, verify_all
from pgdrill.scenarios.steps.recovery import (
    Before,
    current_timeline,
    judge,
    record_rto,
    source_snapshot,
    start_and_prove,
)
from pgdrill.scenarios.steps.restore import destroy, mark_target
from pgdrill.scenarios.verdicts.checks import NOT_RUN, Check
from pgdrill.scenarios.verdicts.findings import defect_meaning
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult
from pgdrill.scenarios.verdicts.targets import Target, load_targets

INTERACTIVE = re.compile(r"\bcrontab\s+-e\b|\btail\s+-\w*f|\bwatch\s|\bread\s+-|\bless\b|\bvi(m)?\s")


@dataclass
class StepRecord:
    """A runbook step as the drill ran it, for the report: ✓, ✗ or not run, and what happened."""

    section: str
    step: Step
    status: str  # "passed", "failed", "not_run"
    seconds: float = 0.0
    exit_status: int | None = None
    output_tail: str = ""
    why: str = ""
    substitutions: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"section": self.section, "number": self.step.number, "title": self.step.title,
                "lines": self.step.lines, "command": self.step.command, "status": self.status,
                "seconds": round(self.seconds, 3), "exit_status": self.exit_status, "output_tail": self.output_tail,
                "why": self.why, "substitutions": list(self.substitutions), "calls": list(self.calls)}


def defects_on(book: Runbook, step: Step) -> list[str]:
    """The known defects whose shape the runbook writes on this step's lines, with what each means."""
    codes = sorted({code for code in SIGNATURES for s in sightings(book, code) or []
                    if step.first_line <= s.line <= step.last_line})
    return [f"{code} ({defect_meaning(code)})" for code in codes]


class StepRunner:
    """Runs runbook steps in the sandbox, records each, and ends the scenario at the first that fails."""

    def __init__(self, ctx: DrillContext, result: ScenarioResult, book: Runbook, sandbox: Sandbox,
                 target: Callable[[], str | None], timeout: float, given: dict[str, str]) -> None:
        self.ctx, self.result, self.book, self.sandbox = ctx, result, book, sandbox
        self.target, self.timeout, self.given = target, timeout, given
        self.records: list[StepRecord] = []
        self.table: list[dict] = []
        result.facts["runbook_steps"] = self.table

    def newest(self, pattern: str) -> str | None:
        found = self.sandbox.shell(f'cd "$(cat /run/pgdrill-cwd)" && ls -1dt -- {pattern} 2>/dev/null | head -1')
        return found.strip() or None

    def run(self, section: str, step: Step, must_pass: bool = True) -> StepRecord:
        record = StepRecord(section, step, "not_run")
        if not step.command:
            record.why = "no command: the step refers elsewhere (" + step.title + ")"
        elif INTERACTIVE.search(step.command):
            record.why = "not run: interactive (it waits for a person)"
        else:
            try:
                command, done = substitute(step.command, step.first_line + 1, self.newest, self.target(), self.given)
                command = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.given.items()) + command
            except NothingMatches as exc:
                record.status, record.why = "failed", str(exc)
            else:
                record.substitutions = tuple(f"line {s.line}: {s.written} -> {s.used} ({s.why})" for s in done)
                ran = self.sandbox.run_step(command, self.timeout)
                self.fill(record, ran)
        self.records.append(record)
        self.table.append(record.as_dict())
        if record.status == "failed" and must_pass:
            self.fail(record)
        return record

    def fill(self, record: StepRecord, ran: StepRun) -> None:
        record.seconds, record.exit_status = ran.seconds, ran.exit_status
        record.calls = tuple(f"{call} -> exit {code}" for call, code in ran.calls)
        record.output_tail = redacted_tail(ran.stdout + "\n" + ran.stderr, 400)
        if ran.timed_out:
            record.status, record.why = "failed", f"did not finish within {self.timeout:.0f} s"
        elif ran.exit_status != 0:
            record.status, record.why = "failed", f"exited {ran.exit_status}"
        else:
            record.status = "passed"

    def fail(self, record: StepRecord) -> None:
        step = record.step
        where = f"step {step.number}" if step.number is not None else f"'{step.title}'"
        known = defects_on(self.book, step)
        raise DrillFailure("RUNBOOK_STEP_FAILED", (
            f"{record.section} fails as written at {where} (lines {step.lines}): "
            f"`{step.command.splitlines()[0] if step.command else step.title}` {record.why}: {record.output_tail}"
            + (f"; known defects written there: {'; '.join(known)}" if known else "")))


def run(ctx: DrillContext, book: Runbook, scenario: Scenario, open_sandbox: Callable[[Cluster], Sandbox],
        timeout: float = 600, given: dict[str, str] | None = None) -> ScenarioResult:
    """One runbook scenario, as written, judged against the runbook's own tables (--dr-targets still wins)."""
    ctx = replace(ctx, targets=own_targets(ctx.targets, book))
    result = ctx.result(scenario.scenario_id or "physical_restore", scenario.number)
    result.id = f"runbook_s{scenario.number}"
    result.facts.update(runbook=str(book.path), scenario=f"Scenario {scenario.number}: {scenario.title}",
                        kind=scenario.kind, told_by=scenario.told_by)

    found = objects_of(book)
    ctx = replace(ctx, database=found.database or DATABASE)

    def body(result: ScenarioResult) -> None:
        cluster = ctx.make_cluster(f"rb-s{scenario.number}")
        adopt_names(result, cluster, found)
        settings = apply_archiving(result, cluster, book)
        sandbox = open_sandbox(cluster)
        ctx.closers.append(sandbox.close)
        if sandbox.team:
            result.facts["compose_file"] = {"file": str(sandbox.team.source), "service": sandbox.team.service,
                                            "applied_as": sandbox.team.changes}
        ctx.health_urls = (*ctx.health_urls, *sandbox.health_urls)  # the services it stops must be up again
        target: dict[str, str | None] = {"text": None}
        steps = StepRunner(ctx, result, book, sandbox, lambda: target["text"], timeout, given or {})
        workload = Workload(ctx, cluster)
        for step in book.backups:  # the backup section as written: what the scenario's steps will restore
            steps.run("the backup section", step, must_pass=False)
        keep_writing(ctx.load_seconds)
        bound_rpo(result, ctx, cluster, scenario.kind or "", settings["archive_timeout"])
        snapshot, timeline = source_snapshot(result, cluster, ctx.database), current_timeline(cluster)
        moment = mark_target(cluster) if scenario.kind == "pitr" else None
        target["text"] = format_target(moment) if moment else None
        holder = disaster(result, cluster, scenario.kind or "", ctx.database)
        ctx.closers.append(holder.close)
        t0 = time.time()
        workload.stop_and_sample()
        archived_until = archived_end_lsn(cluster)
        if scenario.kind == "pitr":  # recovery stops only at a commit past the target, which must be archived
            archiving.switch_and_wait(cluster)
        if scenario.kind in ("physical", "pitr"):
            with result.step("disaster", "the server crashes and its data directory is lost; the archive survives"):
                cluster.crash()
                cluster.wipe_data()
        if scenario.kind == "rebuild":  # its own steps remove the container and the volume, as the corrected drill's
            with result.step("disaster", "the server crashes: the container is to be rebuilt"):
                cluster.crash()
        section = f"Scenario {scenario.number}"
        for step in scenario.steps:
            steps.run(section, step)
        result.facts["known_defects_in_steps_run"] = [
            f"{section} step {r.step.number} (lines {r.step.lines}): {d}" for r in steps.records
            if r.section == section and r.status == "passed" for d in defects_on(book, r.step)]
        if scenario.kind == "logical":
            holder.close()
            result.rto_seconds = round(wait_until_writable(cluster, ctx.database) - t0, 3)
            verify_all(ctx, result, cluster, snapshot, physical=False, old_timeline=None, backup_check=None)
            workload.judge(result, cluster)
            return
        unverified = Check("base backup verified (pg_verifybackup)", NOT_RUN, "the base backup is the runbook's own, "
                           "taken and restored by its steps in the sandbox; pgdrill does not verify it in between")
        before = Before(snapshot, timeline, workload, unverified, archived_until=archived_until, target=moment,
                        disaster_at=t0 if moment else None)
        t_files = time.time()
        t1 = start_and_prove(ctx, result, cluster, None, target=moment, timeline=timeline, launch=lambda: None,
                             dbname=ctx.database)
        record_rto(result, t0, t_files, t1)
        judge(ctx, result, cluster, before)

    return execute(result, body, ctx)


def own_targets(current: dict[str, Target], book: Runbook) -> dict[str, Target]:
    """The runbook's tables as the targets, except where --dr-targets set one."""
    theirs = load_targets(runbook=book)
    return {name: target if target.rto_from.startswith("--dr-targets") or target.rpo_from.startswith("--dr-targets")
            else theirs[name] for name, target in current.items()}


class Holder:
    """A client the runbook's "stop all services" does not stop (monitoring, a cron job): it stays connected."""

    def __init__(self, conn: psycopg.Connection | None) -> None:
        self.conn = conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def adopt_names(result: ScenarioResult, cluster: Cluster, found: RunbookObjects) -> None:
    """The seeded platform database under the runbook's database name, and the role its tools connect as."""
    with result.step("setup", f"the runbook's names: database {found.database or DATABASE}, role "
                              f"{found.user or 'postgres'}"):
        if found.database and found.database != DATABASE:
            cluster.query(f'ALTER DATABASE {DATABASE} RENAME TO "{found.database}"')
        if found.user and not cluster.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (found.user,)):
            cluster.query(f'CREATE ROLE "{found.user}" SUPERUSER LOGIN')


def disaster(result: ScenarioResult, cluster: Cluster, kind: str, database: str) -> Holder:
    """The disaster of the scenario's kind, as the corrected drills inject it."""
    if kind == "logical":
        destroy(result, cluster, database, "; a client stays connected")
        return Holder(cluster.connect(database))
    if kind == "pitr":
        destroy(result, cluster, database)
    return Holder(None)


def bound_rpo(result: ScenarioResult, ctx: DrillContext, cluster: Cluster, kind: str, archive_timeout: str) -> None:
    """The worst loss the runbook's configuration allows: the dump interval for a logical restore; archive_timeout as
    written plus a measured archiving delay for a physical one (0 as written: unbounded, RPO_UNBOUNDED)."""
    if kind == "logical":
        interval = ctx.targets["logical_restore"].dump_interval_seconds
        result.bound_rpo(interval, "a logical restore loses everything since the last dump: the dump interval")
        return
    result.bound_rpo(*archiving.rpo_bound(pg_seconds(archive_timeout), [archiving.timed_switch(cluster)]))


def pg_seconds(setting: str) -> float:
    """A time setting as postgresql.conf takes it (60, '60s', '1min', '500ms'; a bare number is seconds)."""
    match = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?'?\s*", setting)
    if not match:
        return 0.0
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]


def apply_archiving(result: ScenarioResult, cluster: Cluster, book: Runbook) -> dict[str, str]:
    """The runbook's WAL archiving settings, as written, on the sandbox's server (archive_timeout absent: 0)."""
    settings = {"archive_timeout": "0", **book.archiving}
    where = archive_directory(settings.get("archive_command", ""))
    moved = where is not None and where.rstrip("/") != cluster.archive_location
    with result.step("setup", "the runbook's WAL archiving settings, as written: "
                              + ", ".join(f"{k} = {v}" for k, v in settings.items())
                              + (f"; the archive volume mounted where it writes: {where}" if moved else "")):
        with cluster.connect() as conn:
            for name, value in settings.items():
                conn.execute(f"ALTER SYSTEM SET {name} = {quote(value)}")
        cluster.stop("fast")
        if moved and where:
            cluster.relocate_archive(where)
        cluster.start()
    result.facts["archiving_as_written"] = settings
    result.facts["archive_directory"] = cluster.archive_location
    return settings


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

