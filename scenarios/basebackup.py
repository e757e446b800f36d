"""Physical backups the runbook's way (pg_basebackup -Ft -z), proved and restored the PG16 way.

Shared by Scenario 2 (physical restore) and Scenario 3 (PITR). Every failure names its cause as a
DrillFailure with a finding code: which file is corrupt, which WAL segment is missing, whether a
recovery target lies before the backup's consistency point or after the archive's last commit.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pgdrill.fixtures.cluster import ServerDied, TarError, wait_until_writable
from pgdrill.fixtures.osuser import remove_tree
from pgdrill.scenarios.checks import NotRun
from pgdrill.scenarios.result import DrillFailure

SEGMENT_SIZE = 16 * 1024 * 1024
SEGMENTS_PER_XLOGID = 0x100000000 // SEGMENT_SIZE
SEGMENT_RE = re.compile(r"^[0-9A-F]{24}$")

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
    def read(cls, path: Path, seconds: float = 0.0, finished_at: float = 0.0, output: str = "") -> "BaseBackup":
        manifest = json.loads((path / "backup_manifest").read_text())
        ranges = manifest["WAL-Ranges"]
        return cls(path, int(ranges[0]["Timeline"]), parse_lsn(ranges[0]["Start-LSN"]),
                   parse_lsn(ranges[-1]["End-LSN"]), seconds, finished_at, output)


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def segment_name(timeline: int, lsn: int) -> str:
    segno = lsn // SEGMENT_SIZE
    return f"{timeline:08X}{segno // SEGMENTS_PER_XLOGID:08X}{segno % SEGMENTS_PER_XLOGID:08X}"


def next_segment(name: str) -> str:
    timeline, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)
    segno = log * SEGMENTS_PER_XLOGID + seg + 1
    return f"{timeline:08X}{segno // SEGMENTS_PER_XLOGID:08X}{segno % SEGMENTS_PER_XLOGID:08X}"


def take(cluster, dest: Path, fast_checkpoint: bool = True, timeout: float = 3600) -> BaseBackup:
    """The runbook's pg_basebackup -Ft -z -P, with --checkpoint=fast (the runbook omits it)."""
    started = time.perf_counter()
    output = cluster.basebackup(dest, fast=fast_checkpoint, timeout=timeout)
    return BaseBackup.read(dest, time.perf_counter() - started, time.time(), output or "")


def extract(cluster, backup: BaseBackup, with_pg_wal: bool = True) -> None:
    """base.tar.gz into the cluster's empty data directory, pg_wal.tar.gz into its pg_wal/."""
    try:
        cluster.restore_base(backup.path, with_pg_wal=with_pg_wal)
    except TarError as exc:
        raise DrillFailure("BASEBACKUP_CORRUPT", str(exc)) from None


def _untar_for_verify(archive: Path, into: Path) -> None:
    result = subprocess.run(["tar", "-xzf", str(archive), "-C", str(into)], capture_output=True, text=True)
    if result.returncode != 0:
        raise DrillFailure("BASEBACKUP_CORRUPT", f"{archive} is corrupt: tar -xzf exited {result.returncode}: "
                                                 f"{' '.join(result.stderr.split())[:300]}")


def verify(cluster, backup: BaseBackup, workdir: Path) -> str:
    """pg_verifybackup against the manifest (PG16 reads a plain directory only, so extract first)."""
    tree = workdir / f"verify-{backup.path.name}"
    tree.mkdir(parents=True)
    try:
        _untar_for_verify(backup.path / "base.tar.gz", tree)
        if (backup.path / "pg_wal.tar.gz").exists():
            (tree / "pg_wal").mkdir(exist_ok=True)
            _untar_for_verify(backup.path / "pg_wal.tar.gz", tree / "pg_wal")
        result = subprocess.run([cluster.installation.tool("pg_verifybackup"), "-m", str(backup.path / "backup_manifest"),
                                 str(tree)], capture_output=True, text=True)  # checks files and the WAL in pg_wal/
        if result.returncode < 0:  # the tool itself crashed: nothing was verified, which is not a verdict
            raise NotRun(f"pg_verifybackup of {cluster.installation.bindir} crashed with signal {-result.returncode}")
        if result.returncode != 0:
            raise DrillFailure("BASEBACKUP_CORRUPT", f"pg_verifybackup rejects {backup.path}: "
                                                     f"{' '.join((result.stderr or result.stdout).split())[:300]}")
        return result.stdout.strip() or "backup successfully verified"
    finally:
        remove_tree(tree)


def check_archive_continuity(archive_dir: Path, start_segment: str, until_segment: str | None = None) -> list[str]:
    """Every segment from the backup's start to the last archived one (or `until`) must be present.

    PostgreSQL treats a missing middle segment as the end of WAL and promotes silently; only this
    check (or the data) catches it. Returns the segments checked.
    """
    timeline = start_segment[:8]
    present = sorted(p.name for p in archive_dir.iterdir() if SEGMENT_RE.match(p.name) and p.name[:8] == timeline)
    last = until_segment or (present[-1] if present else start_segment)
    expected, name = [], start_segment
    while name <= last:
        expected.append(name)
        name = next_segment(name)
    missing = [s for s in expected if s not in set(present)]
    if missing:
        raise DrillFailure("WAL_SEGMENT_MISSING",
                           f"WAL segment {missing[0]} is missing from the archive {archive_dir} (needed between the "
                           f"backup's start {start_segment} and the last archived segment {last}); recovery would "
                           f"stop there and silently lose everything after it")
    return expected


def check_archive_readable(cluster, archive_dir: Path, segments: list[str]) -> None:
    """pg_waldump over the archived range (complete segments only): any error names the bad segment."""
    if not segments:
        return
    result = subprocess.run([cluster.installation.tool("pg_waldump"), "-q", "-p", str(archive_dir),
                             segments[0], segments[-1]], capture_output=True, text=True)
    if result.returncode == 0:
        return
    error = " ".join((result.stderr or result.stdout or f"exit {result.returncode}").split())[:300]
    match = re.search(r"error in WAL record at ([0-9A-F]+/[0-9A-F]+)", error)
    if match:
        bad = segment_name(int(segments[0][:8], 16), parse_lsn(match.group(1)))
        raise DrillFailure("WAL_CORRUPT", f"archived WAL segment {bad} is corrupt: {error}; recovery would stop "
                                          f"there and silently lose everything after it")
    raise DrillFailure("WAL_UNREADABLE", f"pg_waldump cannot read the archived WAL {segments[0]}..{segments[-1]}: {error}")


def backup_stop_time(archive_dir: Path, backup: BaseBackup) -> datetime:
    """STOP TIME from the backup history file (<segment>.<offset>.backup) in the archive.

    It is written in the server's log_timezone; when that is not UTC the abbreviation cannot be read
    reliably, and the client's clock when pg_basebackup returned (a later moment) is used instead.
    """
    for path in archive_dir.glob(f"{backup.start_segment}.*.backup"):
        match = re.search(r"STOP TIME: (.+) (UTC|GMT)\s*$", path.read_text(), re.MULTILINE)
        if match:
            return datetime.strptime(match.group(1).strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(backup.finished_at, timezone.utc)


def start_recovery(cluster, dbname: str, timeout: float = 900, already_started: bool = False,
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


def raise_startup_failure(log: str) -> None:
    """Name why the restored server did not start, from its log."""
    for text, (code, meaning) in STARTUP_FATALS.items():
        if text in log:
            raise DrillFailure(code, f"{meaning} (server: FATAL: {text})") from None
    fatal = [line for line in log.splitlines() if "FATAL" in line or "PANIC" in line]
    raise DrillFailure("SERVER_DID_NOT_START", "the restored server did not start: "
                       + (fatal[-1] if fatal else "no FATAL in the log")) from None
