"""The runbook's "WAL Archiving" section made checkable: configuration, a switched segment that
arrives in the archive, and an archiver that has not failed."""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass

from pgdrill.fixtures import cost
from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.sql import one_row
from pgdrill.fixtures.wait import WaitTimeout, poll
from pgdrill.scenarios.backups.wal import SEGMENT_RE, SEGMENT_SIZE, next_segment, segment_name
from pgdrill.scenarios.verdicts.checks import require
from pgdrill.scenarios.verdicts.result import DrillFailure


class ArchivingError(DrillFailure):
    """WAL archiving is broken (ARCHIVING_FAILED); the message names the failing command and the server's words."""

    def __init__(self, message: str) -> None:
        super().__init__("ARCHIVING_FAILED", message)


def settings(cluster: Cluster) -> dict[str, str]:
    rows = cluster.query("SELECT name, setting FROM pg_settings WHERE name IN "
                         "('archive_mode', 'archive_command', 'archive_library', 'wal_level', 'archive_timeout')")
    return dict(rows)


def archiver_stats(cluster: Cluster) -> dict:
    with cluster.connect() as conn:
        cur = conn.execute("SELECT archived_count, last_archived_wal, failed_count, last_failed_wal "
                           "FROM pg_stat_archiver")
        return dict(zip([c.name for c in cur.description or []], one_row(cur), strict=True))


def archive_failure_evidence(cluster: Cluster) -> str:
    """The server log's lines about failed archive commands, with the command's own stderr."""
    lines = cluster.log_tail(400).splitlines()
    picked = []
    for index, line in enumerate(lines):
        if "archive command failed" in line or "archiving write-ahead log file" in line:
            if index > 0 and lines[index - 1] not in picked and "LOG:" not in lines[index - 1]:
                picked.append(lines[index - 1])
            picked.append(line)
    return "\n".join(picked[-6:]) or "(no archive failure in the server log)"


FETCH_SECONDS = 60  # one segment read back through a set's restore_command


@dataclass(frozen=True)
class ReadBack:
    """An archive no listing shows (a backup tool's repository): a file is in it when the set's restore_command gives
    it back whole, run where and as the server runs it, as recovery would get it."""

    cluster: Cluster
    restore_command: str  # the set's, its PGDRILL_* variables expanded
    segment_bytes: int = SEGMENT_SIZE

    def missing(self, name: str) -> str | None:
        """None when restore_command gives NAME back (a segment: of the segment size); else why not. %p is a plain
        path (mktemp's: no character any quoting of the command could change), made and removed around it."""
        made = self.cluster.server_shell("mktemp -d")
        where = made.stdout.strip()
        if made.returncode != 0 or not re.fullmatch(r"/[A-Za-z0-9._/-]+", where):
            return f"no scratch directory where the server runs: {made.stderr.strip()[-200:]}"
        fetch = self.restore_command.replace("%f", name).replace("%p", f"{where}/f")
        try:
            out = self.cluster.server_shell(f"timeout -k 5 {FETCH_SECONDS} bash -c {shlex.quote(fetch)} && "
                                            f"stat -c %s {where}/f", timeout=FETCH_SECONDS + 15)
        finally:
            self.cluster.server_shell(f"rm -rf {where}")
        if out.returncode == 124:
            return f"restore_command did not finish within {FETCH_SECONDS} s"
        if out.returncode != 0:
            return f"restore_command exited {out.returncode}: {out.stderr.strip()[-400:] or 'no message'}"
        size = int((out.stdout.split() or ["0"])[-1])
        if name.endswith(".history") or size == self.segment_bytes:
            return None
        return f"restore_command gave back {size} bytes, not a {self.segment_bytes}-byte segment"

    def names(self, timeline: int, start_lsn: int, end_lsn: int) -> list[str]:
        """The segments from start_lsn's to the one ending at end_lsn (the server's account of what it archived):
        the archive as recovery will ask for it."""
        names, name, last = [], segment_name(timeline, start_lsn), segment_name(timeline, max(end_lsn - 1, start_lsn))
        while name <= last:
            names.append(name)
            name = next_segment(name)
        return names


@cost.postgres("WAL switched and archived")
def switch_and_wait(cluster: Cluster, timeout: float = 30, read_back: ReadBack | None = None) -> str:
    """pg_switch_wal() in its own transaction, then wait until that segment is in the archive: in its listing, or
    (read_back) reported archived by the server and given back by the set's restore_command.

    Returns the segment name. Raises ArchivingError naming why it did not arrive.
    """
    with cluster.connect() as conn:  # a record first: with no WAL since the last switch, pg_switch_wal()
        conn.execute("SELECT pg_logical_emit_message(false, 'pgdrill', 'switch')")  # names an old segment
        segment = one_row(conn.execute("SELECT pg_walfile_name(pg_switch_wal())"))[0]

    def arrived() -> bool:
        stats = archiver_stats(cluster)
        last = stats["last_archived_wal"] or ""
        reported = bool(SEGMENT_RE.fullmatch(last[:24])) and last[:24] >= segment  # a .history name is no segment
        return reported and (read_back is not None or segment in cluster.archived_segments())

    try:
        poll(arrived, what=f"segment {segment} to reach the archive", timeout=timeout, interval=0.1)
    except WaitTimeout:
        stats = archiver_stats(cluster)
        command = settings(cluster).get("archive_command", "")
        exit_codes = re.findall(r"archive command failed with exit code (\d+)", cluster.log_tail(400))
        code = f"exited with code {exit_codes[-1]}" if exit_codes else "did not deliver it"
        raise ArchivingError(
            f"WAL archiving is failing: segment {segment} did not reach the archive within {timeout:.0f} s; "
            f"archive_command {code} (pg_stat_archiver.failed_count={stats['failed_count']}, "
            f"last_failed_wal={stats['last_failed_wal']}). archive_command: {command}\n"
            f"server log:\n{archive_failure_evidence(cluster)}") from None
    why = read_back.missing(segment) if read_back else None
    if why:
        raise ArchivingError(f"segment {segment} cannot be read back from where archive_command put it, although the "
                             f"server reports it archived (archive_command exited 0): {why}. restore_command: "
                             f"{read_back.restore_command if read_back else ''}")
    return segment


def timed_switch(cluster: Cluster, timeout: float = 30, read_back: ReadBack | None = None) -> float:
    """switch_and_wait, timed: the archiving delay of one segment (switch to arrival in the archive), in seconds."""
    started = time.perf_counter()
    switch_and_wait(cluster, timeout, read_back)
    return time.perf_counter() - started


def set_archive_command(cluster: Cluster, command: str) -> None:
    """ALTER SYSTEM SET archive_command (quotes doubled: the line is postgresql.conf syntax), then reload."""
    with cluster.connect() as conn:
        conn.execute("ALTER SYSTEM SET archive_command = '{}'".format(command.replace("'", "''")))
        conn.execute("SELECT pg_reload_conf()")


def set_archive_timeout(cluster: Cluster, seconds: float) -> None:
    """The runbook corrected: ALTER SYSTEM SET archive_timeout (0 leaves the runbook's unbounded default)."""
    with cluster.connect() as conn:
        conn.execute(f"ALTER SYSTEM SET archive_timeout = '{int(seconds)}s'")
        conn.execute("SELECT pg_reload_conf()")


def rpo_bound(archive_timeout: float, delays: list[float]) -> tuple[float | None, str]:
    """The worst loss of WAL archiving alone: archive_timeout plus the slowest archiving delay measured.

    With archive_timeout = 0 a segment is archived only when 16 MB of WAL fill it: at low traffic, never.
    """
    if archive_timeout <= 0:
        return None, ("archive_timeout = 0 (the runbook's configuration): a segment is archived only once 16 MB of "
                      "WAL fill it, so at low traffic committed data can stay unarchived indefinitely "
                      "(RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT; --archive-timeout sets the corrected value)")
    delay = max(delays, default=0.0)
    return archive_timeout + delay, (f"archive_timeout {archive_timeout:g} s + the slowest archiving delay measured "
                                     f"({delay:.2f} s over {len(delays)} segments)")


def verify_after_recovery(cluster: Cluster, old_timeline: int | None, failed_before: int | None = None,
                          read_back: ReadBack | None = None) -> str:
    """Checklist item 7: archiving works after recovery, on the new timeline, with its .history file.

    old_timeline: the timeline before the disaster (None for a logical restore, where it does not change).
    """
    shown = settings(cluster)
    require(shown.get("archive_mode") == "on", f"archive_mode is {shown.get('archive_mode')!r} after recovery")
    before = archiver_stats(cluster)["failed_count"] if failed_before is None else failed_before
    segment = switch_and_wait(cluster, timeout=30, read_back=read_back)
    timeline = int(segment[:8], 16)
    detail = f"segment {segment} archived" + (" (read back through restore_command)" if read_back else "")
    if old_timeline is not None:
        require(timeline > old_timeline, f"still on timeline {timeline} after recovery (was {old_timeline})")
        history = f"{timeline:08X}.history"
        require(read_back.missing(history) is None if read_back else history in cluster.archived_segments(),
                f"{history} of the new timeline is not in the archive")
        detail += f" on new timeline {timeline} with {history}"
    after = archiver_stats(cluster)["failed_count"]
    require(after <= before, f"pg_stat_archiver.failed_count grew from {before} to {after}")
    return detail + f"; failed_count {after}"
