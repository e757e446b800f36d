"""Physical backups the runbook's way (pg_basebackup -Ft -z), proved and restored the PG16 way.

Shared by Scenario 2 (physical restore) and Scenario 3 (PITR). Every failure names its cause as a
DrillFailure with a finding code: which file is corrupt, which WAL segment is missing, whether a
recovery target lies before the backup's consistency point or after the archive's last commit.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from pgdrill.fixtures import cost
from pgdrill.fixtures.contract import Cluster, ServerDied, TarError
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.scenarios.backups import layouts
from pgdrill.scenarios.backups.wal import SEGMENT_RE, SEGMENT_SIZE, next_segment, parse_lsn, segment_name
from pgdrill.scenarios.verdicts.checks import NotRun
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult

# What the server's last FATAL says, mapped to the finding that names the cause.
STARTUP_FATALS = {
    "recovery ended before configured recovery target was reached": (
        "PITR_TARGET_AFTER_ARCHIVE_END",
        "the recovery target lies after the last archived commit: recovery ran out of WAL before reaching it"),
    "requested recovery stop point is before consistent recovery point": (
        "PITR_TARGET_BEFORE_BACKUP",
        "the recovery target lies before the base backup's consistency point: this backup cannot reach it"),
    "could not locate required checkpoint record": (
        "BACKUP_WAL_MISSING", "the WAL the base backup needs (its checkpoint) is neither in pg_wal nor archived"),
    'using recovery command file "recovery.conf" is not supported': (
        "RECOVERY_CONF_UNSUPPORTED", "recovery.conf is not supported since PostgreSQL 12; the server refuses to start"),
}


@dataclass(frozen=True)
class BaseBackup:
    """A pg_basebackup -Ft -z directory: base.tar.gz, pg_wal.tar.gz, backup_manifest."""

    path: Path
    timeline: int
    start_lsn: int
    end_lsn: int
    seconds: float
    finished_at: float = 0.0  # client clock when pg_basebackup returned: an upper bound of the stop time
    output: str = ""  # pg_basebackup -P's progress lines

    @property
    def start_segment(self) -> str:
        return segment_name(self.timeline, self.start_lsn)

    @property
    def end_segment(self) -> str:
        return segment_name(self.timeline, self.end_lsn)

    @classmethod
    def read(cls, path: Path, seconds: float = 0.0, finished_at: float = 0.0, output: str = "") -> BaseBackup:
        manifest = json.loads((path / "backup_manifest").read_text())
        ranges = manifest["WAL-Ranges"]
        return cls(path, int(ranges[0]["Timeline"]), parse_lsn(ranges[0]["Start-LSN"]),
                   parse_lsn(ranges[-1]["End-LSN"]), seconds, finished_at, output)


def take(cluster: Cluster, dest: Path, fast_checkpoint: bool = True, timeout: float = 3600) -> BaseBackup:
    """The runbook's pg_basebackup -Ft -z -P, with --checkpoint=fast (the runbook omits it)."""
    started = time.perf_counter()
    output = cluster.basebackup(dest, fast=fast_checkpoint, timeout=timeout)
    return BaseBackup.read(dest, time.perf_counter() - started, time.time(), output or "")


def extract(cluster: Cluster, backup: BaseBackup, with_pg_wal: bool = True) -> None:
    """base.tar.gz into the cluster's empty data directory, pg_wal.tar.gz into its pg_wal/."""
    try:
        cluster.restore_base(backup.path, with_pg_wal=with_pg_wal)
    except TarError as exc:
        raise DrillFailure("BASEBACKUP_CORRUPT", str(exc)) from None


@cost.drill("backup verification (pg_verifybackup)")
def verify(cluster: Cluster, backup: BaseBackup, parse_wal: bool = True) -> str:
    """pg_verifybackup against the manifest, with the server's own tools (the cluster extracts the tars)."""
    try:
        result = cluster.verify_backup(backup.path, parse_wal)  # files, and the WAL in pg_wal/ unless parse_wal=False
    except TarError as exc:
        raise DrillFailure("BASEBACKUP_CORRUPT", str(exc)) from None
    if result.returncode < 0:  # the tool itself crashed: nothing was verified, which is not a verdict
        raise NotRun(f"pg_verifybackup ({cluster.backend}) crashed with signal {-result.returncode}")
    if result.returncode != 0:
        raise DrillFailure("BASEBACKUP_CORRUPT", f"pg_verifybackup rejects {backup.path}: "
                                                 f"{' '.join((result.stderr or result.stdout).split())[:300]}")
    return result.stdout.strip() or "backup successfully verified"


def check_archive_continuity(present_names: list[str], start_segment: str, where: str,
                             until_segment: str | None = None) -> list[str]:
    """Every segment from the backup's start to the last archived one (or `until`) must be present.

    PostgreSQL treats a missing middle segment as the end of WAL and promotes silently; only this
    check (or the data) catches it. Returns the segments checked.
    """
    timeline = start_segment[:8]
    present = sorted(name for name in present_names if SEGMENT_RE.match(name) and name[:8] == timeline)
    last = until_segment or (present[-1] if present else start_segment)
    expected, name = [], start_segment
    while name <= last:
        expected.append(name)
        name = next_segment(name)
    missing = [s for s in expected if s not in set(present)]
    if missing:
        raise DrillFailure("WAL_SEGMENT_MISSING",
                           f"WAL segment {missing[0]} is missing from the archive {where} (needed between the "
                           f"backup's start {start_segment} and the last archived segment {last}); recovery would "
                           f"stop there and silently lose everything after it")
    return expected


END_OF_WAL = re.compile(r"invalid record length at [0-9A-F]+/[0-9A-F]+: expected at least \d+, got 0$")


def check_archive_readable(waldump: Callable[[str, str], subprocess.CompletedProcess[str]],
                           segments: list[str], ends_in_partial: bool = False) -> None:
    """pg_waldump over an archived range (complete segments only): any error names the bad segment.

    waldump(first, last) runs pg_waldump where the archive is: a cluster's `waldump`, or `host_waldump`.
    ends_in_partial: the last segment is a `.partial` standing in for its segment, whose zeroed tail after the
    last record is the end of WAL, not corruption.
    """
    if not segments:
        return
    result = waldump(segments[0], segments[-1])
    if result.returncode == 0:
        return
    error = " ".join((result.stderr or result.stdout or f"exit {result.returncode}").split())[:300]
    match = re.search(r"error in WAL record at ([0-9A-F]+/[0-9A-F]+)", error)
    if match:
        bad = segment_name(int(segments[0][:8], 16), parse_lsn(match.group(1)))
        if ends_in_partial and bad == segments[-1] and END_OF_WAL.search(error):
            return
        raise DrillFailure("WAL_CORRUPT", f"archived WAL segment {bad} is corrupt: {error}; recovery would stop "
                                          f"there and silently lose everything after it")
    raise DrillFailure("WAL_UNREADABLE", f"pg_waldump cannot read the archived WAL {segments[0]}..{segments[-1]}: {error}")


def check_segment_sizes(listing: dict[str, int], segments: list[str]) -> None:
    """Each archived segment is whole: a short file (a copy cut by a full disk or a crash) is refused by the
    server at startup ("has wrong size"), and pg_waldump alone may read it as a clean end of WAL."""
    short = [f"{name} ({listing[name]} bytes)" for name in segments if listing.get(name) != SEGMENT_SIZE]
    if short:
        raise DrillFailure("WAL_UNREADABLE", f"archived WAL segment {short[0]} is not a whole segment of "
                                             f"{SEGMENT_SIZE} bytes; recovery cannot use it"
                                             + (f" ({len(short) - 1} more)" if len(short) > 1 else ""))


@cost.drill("archive pre-check (continuity, pg_waldump)")
def check_cluster_archive(cluster: Cluster, backup: BaseBackup) -> list[str]:
    """Continuity, whole segments and readability of the cluster's own archive from the backup's start segment."""
    listing = cluster.archive_listing()
    segments = check_archive_continuity(sorted(listing), backup.start_segment,
                                        f"of {cluster.name} ({cluster.archive_location})")
    check_segment_sizes(listing, segments)
    check_archive_readable(cluster.waldump, segments)
    return segments


def host_waldump(pg_waldump: str, archive_dir: Path) -> Callable[[str, str], subprocess.CompletedProcess[str]]:
    """pg_waldump of this host over an archive directory of this host (real backups, a saved archive)."""
    def run(first: str, last: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([pg_waldump, "-q", "-p", str(archive_dir), first, last], capture_output=True, text=True)
    return run


def backup_stop_time(archive_files: list[str], read: Callable[[str], bytes], backup: BaseBackup) -> datetime:
    """STOP TIME from the backup history file (<segment>.<offset>.backup) in the archive.

    It is written in the server's log_timezone; when that is not UTC the abbreviation cannot be read
    reliably, and the client's clock when pg_basebackup returned (a later moment) is used instead.
    """
    for name in archive_files:
        if not (name.startswith(f"{backup.start_segment}.") and name.endswith(".backup")):
            continue
        match = re.search(r"STOP TIME: (.+) (UTC|GMT)\s*$", read(name).decode(errors="replace"), re.MULTILINE)
        if match:
            return datetime.strptime(match.group(1).strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return datetime.fromtimestamp(backup.finished_at, UTC)


def start_recovery(cluster: Cluster, dbname: str, timeout: float = 900, already_started: bool = False,
                   evidence: dict | None = None) -> float:
    """Start the restored server and wait for the first write after promotion; map a startup FATAL.

    already_started: something else (docker-compose up) started it; only wait and judge.
    """
    log_from = 0 if already_started else cluster.log_size()
    if not already_started:
        cluster.start(wait=False)
    try:
        return wait_until_writable(cluster, dbname, timeout=timeout)
    except ServerDied:
        log = cluster.log_since(log_from)
        raise_startup_failure(log)
    finally:
        if evidence is not None:
            evidence["server log around recovery"] = cluster.log_since(log_from)[-20000:]


def raise_startup_failure(log: str) -> NoReturn:
    """Name why the restored server did not start, from its log."""
    for text, (code, meaning) in STARTUP_FATALS.items():
        if text in log:
            raise DrillFailure(code, f"{meaning} (server: FATAL: {text})") from None
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    fatal = [line for line in lines if "FATAL" in line or "PANIC" in line]
    raise DrillFailure("SERVER_DID_NOT_START", "the restored server did not start: " + (
        fatal[-1] if fatal else "no FATAL in the log, which ends: " + " ".join(lines[-3:])[-400:])) from None


RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_action", "recovery_target_timeline")


def reset_recovery_settings(result: ScenarioResult, cluster: Cluster, step: str = "step 7b") -> None:
    """After promotion: ALTER SYSTEM RESET the recovery settings so they do not leak into later base backups
    (RUNBOOK-DEFECTS: AUTO_CONF_OVERWRITTEN's fix), whichever way the backup was restored."""
    with result.step(step, "ALTER SYSTEM RESET restore_command and recovery targets"):
        with cluster.connect() as conn:
            for name in RECOVERY_SETTINGS:
                conn.execute(f"ALTER SYSTEM RESET {name}")
            conn.execute("SELECT pg_reload_conf()")
        left = cluster.query("SELECT name FROM pg_file_settings WHERE sourcefile LIKE '%%postgresql.auto.conf' "
                             "AND name = ANY(%s)", (list(RECOVERY_SETTINGS),))
        result.facts["recovery_settings_left"] = sorted(row[0] for row in left)  # [] once reset


def read_base(found: layouts.Found) -> BaseBackup:
    """Where the backup's WAL starts: from backup_manifest, or, without one, from its backup_label; a pgBackRest
    set's from its backup.manifest."""
    if found.format == "pgbackrest":
        return read_pgbackrest_set(found.path)
    if (found.path / "backup_manifest").is_file():
        return BaseBackup.read(found.path)
    label = layouts.backup_label(found) or ""
    start = layouts.START_WAL.search(label)
    timeline = re.search(r"START TIMELINE: (\d+)", label)
    if not start:
        raise DrillFailure("BASEBACKUP_CORRUPT", f"{found.path} has neither a backup_manifest nor a readable backup_label")
    lsn = parse_lsn(start.group(1))
    return BaseBackup(found.path, int(timeline.group(1)) if timeline else int(start.group(2)[:8], 16), lsn,
                                 lsn, 0.0)



def read_pgbackrest_set(path: Path) -> BaseBackup:
    """A pgBackRest backup set's WAL range and times, from its backup.manifest (INI, values JSON-encoded)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)  # [backrest] comes twice (its checksum)
    try:
        parser.read(path / "backup.manifest")
        backup = {key: json.loads(value) for key, value in parser["backup"].items()}
        start, stop = parse_lsn(backup["backup-lsn-start"]), parse_lsn(backup["backup-lsn-stop"])
        timeline = int(backup["backup-archive-start"][:8], 16)
    except (configparser.Error, KeyError, ValueError) as exc:
        raise DrillFailure("BASEBACKUP_CORRUPT", f"{path}/backup.manifest cannot be read as pgBackRest's: "
                                                 f"{type(exc).__name__}: {exc}") from exc
    began, ended = float(backup.get("backup-timestamp-start", 0)), float(backup.get("backup-timestamp-stop", 0))
    return BaseBackup(path, timeline, start, stop, max(ended - began, 0.0), ended)


def holds_wal(base: Path) -> bool:
    """Whether a base backup carries its own WAL (pg_wal/ segments, or a pg_wal tar): one taken with -X none
    (Barman's, whose WAL is in its own archive) does not, and its WAL is proved by replay instead."""
    pg_wal = base / "pg_wal"
    if pg_wal.is_dir():
        return any(SEGMENT_RE.match(p.name) for p in pg_wal.iterdir())
    return any(base.glob("pg_wal.tar*"))



def verify_base(cluster: Cluster, backup: BaseBackup) -> str:
    if not (backup.path / "backup_manifest").is_file():
        raise NotRun(f"{backup.path} has no backup_manifest (taken with --no-manifest, or by another tool): "
                     "pg_verifybackup needs one")
    if holds_wal(backup.path):
        return verify(cluster, backup)
    return (verify(cluster, backup, parse_wal=False)
            + " (files only, -n: the backup holds no WAL of its own; replay from the archive proves that)")


def format_target(moment: datetime) -> str:
    """recovery_target_time with an explicit offset (a bare time is read in the server's TimeZone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")



def check_target_after_backup(archive_files: list[str], read: Callable[[str], bytes], backup: BaseBackup,
                              target: datetime) -> None:
    """A target before the backup's end cannot be reached from it: say so before starting."""
    stop = backup_stop_time(archive_files, read, backup)
    if target < stop:
        raise DrillFailure("PITR_TARGET_BEFORE_BACKUP",
                           f"the recovery target {format_target(target)} lies before the base backup's consistency "
                           f"point (backup STOP TIME {stop:%Y-%m-%d %H:%M:%S} UTC): this backup cannot reach it")
