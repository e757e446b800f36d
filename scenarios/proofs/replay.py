"""Where recovery went, in the server's own words, compared with where it was sent.

PostgreSQL promotes after replaying whatever WAL it could fetch: a segment it cannot read (a foreign
system identifier, a file restore_command cannot fetch, a corrupt record) just ends recovery there,
and the server says "redo done" and accepts writes. So a recovery "to the end of the archive" is
proved only by comparing the server's account (`redo done at LSN`, the segments it restored from
the archive, the last transaction it replayed, the timeline it selected) with the last segment the
archive holds on the timeline recovery followed. Every physical recovery of the suite uses this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pgdrill.scenarios.backups.wal import SEGMENT_RE, format_lsn, next_segment, parse_lsn, segment_end_lsn, segment_name
from pgdrill.scenarios.verdicts.result import ScenarioResult

REDO_DONE = re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")
RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
LAST_TRANSACTION = re.compile(r"last completed transaction was at log time ([^\n]+)")
NEW_TIMELINE = re.compile(r"selected new timeline ID: (\d+)")
# what the server (or restore_command's own stderr) says when a segment it wanted could not be used
EARLY_END_SIGNS = ("WAL file is from different database system", "could not restore file", "Permission denied",
                   "No such file or directory", "invalid record length", "incorrect prev-link", "unexpected pageaddr",
                   "invalid magic number", "invalid resource manager", "record with incorrect", "invalid contrecord",
                   "could not read from WAL", "checksum mismatch", "gzip:", "not in gzip format")


@dataclass
class RecoveryAccount:
    """What the server logged about one recovery."""

    redo_end_lsn: str | None
    restored: list[str] = field(default_factory=list)
    last_transaction: str | None = None
    timeline: int | None = None
    reasons: list[str] = field(default_factory=list)


def read_account(log: str) -> RecoveryAccount:
    """Parse the server log written during one recovery (from its start to promotion)."""
    redo = REDO_DONE.findall(log)
    last = LAST_TRANSACTION.findall(log)
    timeline = NEW_TIMELINE.findall(log)
    reasons = [" ".join(line.split())[:240] for line in log.splitlines()
               if any(sign in line for sign in EARLY_END_SIGNS) and "restored log file" not in line]
    return RecoveryAccount(redo[-1] if redo else None, RESTORED.findall(log), last[-1].strip() if last else None,
                           int(timeline[-1]) if timeline else None, reasons)


STOP_LINE = re.compile(r"recovery stopping (before|after) .*")


def stop_line(log: str) -> str:
    """The server's own words on where a targeted recovery stopped ("" when it said nothing)."""
    match = STOP_LINE.search(log)
    return match.group(0).strip() if match else ""


def prove_archive_end_reached(result: ScenarioResult, log: str, archived: list[str], timeline: int) -> RecoveryAccount:
    """Facts of the recovery, and a finding when it ended before the last segment the archive holds.

    archived: the archive's file names when recovery started; timeline: the one recovery followed.
    """
    account = read_account(log)
    on_timeline = sorted(name for name in archived if SEGMENT_RE.match(name) and int(name[:8], 16) == timeline)
    last = on_timeline[-1] if on_timeline else None
    result.facts.update(
        redo_end_lsn=account.redo_end_lsn, archive_end_lsn=format_lsn(segment_end_lsn(last)) if last else None,
        archive_last_segment=last, timeline=account.timeline, replayed_from_archive=len(account.restored),
        last_replayed_transaction=account.last_transaction)
    if account.redo_end_lsn is None:
        result.find("RECOVERY_UNCONFIRMED", "the server logged no 'redo done at LSN': where recovery ended is unproven")
        return account
    reached = segment_name(timeline, parse_lsn(account.redo_end_lsn))
    if last is not None and reached < last:
        missed = next_segment(reached)
        why = account.reasons[-1] if account.reasons else "the server gave no reason: it took the segment as missing"
        result.find("RECOVERY_ENDED_EARLY",
                    f"recovery ended at {account.redo_end_lsn} in segment {reached}, but the archive holds timeline "
                    f"{timeline} up to {last}: segment {missed} and after were never replayed, and the server promoted "
                    f"anyway. Its account: {why}")
    return account


def prove_stop_reached(result: ScenarioResult, log: str) -> None:
    """A targeted recovery's proof from the server: 'recovery stopping before commit of transaction N, time T'."""
    said = result.facts["recovery_stop"] = stop_line(log)
    if not said.startswith("recovery stopping before commit"):
        result.find("PITR_STOP_UNCONFIRMED", "the server did not log 'recovery stopping before commit ...': "
                                             f"where recovery stopped is unproven ({said!r})")
