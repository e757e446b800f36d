"""The timeline path recovery will take through an archive, followed the way PostgreSQL follows it.

After a failover or a PITR the archive holds a `NNNNNNNN.history` file per timeline. With
recovery_target_timeline = 'latest' (PG16's default) recovery reads the newest timeline's history,
replays each ancestor up to its switch point and continues on the next one; the segment holding a
switch point is read from the newer timeline. Continuity must be checked along that path, not only
on the backup's own timeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pgdrill.scenarios.backups.wal import SEGMENT_RE, SEGMENTS_PER_XLOGID, next_segment, parse_lsn, segment_name
from pgdrill.scenarios.verdicts.result import DrillFailure

HISTORY_RE = re.compile(r"^([0-9A-F]{8})\.history$")


@dataclass(frozen=True)
class Leg:
    """One timeline of the path: the segments recovery reads from it."""

    timeline: int
    first: str  # segment name on this timeline
    last: str | None  # None: up to whatever the archive holds on it (the newest timeline)


def parse_history(text: str) -> list[tuple[int, int]]:
    """(parent timeline, switch LSN) for every ancestor, oldest first, from a .history file."""
    steps = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit() and "/" in fields[1]:
            steps.append((int(fields[0]), parse_lsn(fields[1])))
    return steps


def _previous(segment: str) -> str:
    timeline, log, seg = int(segment[:8], 16), int(segment[8:16], 16), int(segment[16:], 16)
    segno = log * SEGMENTS_PER_XLOGID + seg - 1
    return f"{timeline:08X}{segno // SEGMENTS_PER_XLOGID:08X}{segno % SEGMENTS_PER_XLOGID:08X}"


def recovery_path(files: list[str], read: Callable[[str], bytes], start_timeline: int, start_lsn: int) -> list[Leg]:
    """The legs recovery from a backup (start_timeline, start_lsn) takes to the newest timeline in the archive."""
    timelines = sorted(int(m.group(1), 16) for name in files if (m := HISTORY_RE.match(name)))
    latest = max([start_timeline, *timelines])
    if latest == start_timeline:
        return [Leg(start_timeline, segment_name(start_timeline, start_lsn), None)]
    history = parse_history(read(f"{latest:08X}.history").decode(errors="replace"))
    chain = [(tli, switch) for tli, switch in history if tli >= start_timeline]
    if not chain or chain[0][0] != start_timeline:
        raise DrillFailure("WAL_SEGMENT_MISSING", f"the archive's newest timeline {latest} does not descend from the "
                                                  f"backup's timeline {start_timeline} ({latest:08X}.history): "
                                                  "recovery cannot follow it from this backup")
    legs, begin = [], start_lsn
    for tli, switch in chain:
        if switch < begin:
            continue  # this timeline ended before the backup started
        legs.append(Leg(tli, segment_name(tli, begin), _previous(segment_name(tli, switch))))
        begin = switch  # the segment holding the switch point is read from the newer timeline
    legs.append(Leg(latest, segment_name(latest, begin), None))
    return legs


def expected_segments(legs: list[Leg], present: list[str]) -> list[list[str]]:
    """Per leg, the segment names recovery needs (the newest leg up to its last archived segment)."""
    names = sorted(name for name in present if SEGMENT_RE.match(name))
    out = []
    for leg in legs:
        on_leg = [n for n in names if int(n[:8], 16) == leg.timeline]
        last = leg.last or (on_leg[-1] if on_leg else None)
        wanted, name = [], leg.first
        while last is not None and name[8:] <= last[8:]:
            wanted.append(name)
            name = next_segment(name)
        out.append(wanted)
    return out


def check_path(files: list[str], read: Callable[[str], bytes], start_timeline: int, start_lsn: int,
               where: str) -> tuple[list[list[str]], int]:
    """Continuity along the path recovery will take: (segments per leg, the timeline it ends on)."""
    legs = recovery_path(files, read, start_timeline, start_lsn)
    wanted = expected_segments(legs, files)
    present = set(files)
    for leg, names in zip(legs, wanted, strict=True):
        missing = [n for n in names if n not in present]
        if missing:
            raise DrillFailure("WAL_SEGMENT_MISSING",
                               f"WAL segment {missing[0]} is missing from the archive {where} (needed on timeline "
                               f"{leg.timeline} of the path recovery takes: "
                               + " → ".join(f"{leg.timeline}" for leg in legs) + "); recovery would stop there and "
                               "silently lose everything after it")
    return wanted, legs[-1].timeline
