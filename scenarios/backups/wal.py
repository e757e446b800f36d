"""WAL and LSN arithmetic, once: segment names, LSN text, where a segment ends (16 MB segments, as PG16 ships)."""

from __future__ import annotations

import re

SEGMENT_SIZE = 16 * 1024 * 1024
SEGMENTS_PER_XLOGID = 0x100000000 // SEGMENT_SIZE
SEGMENT_RE = re.compile(r"^[0-9A-F]{24}$")


def parse_lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def segment_name(timeline: int, lsn: int) -> str:
    segno = lsn // SEGMENT_SIZE
    return f"{timeline:08X}{segno // SEGMENTS_PER_XLOGID:08X}{segno % SEGMENTS_PER_XLOGID:08X}"


def next_segment(name: str) -> str:
    timeline, log, seg = int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)
    segno = log * SEGMENTS_PER_XLOGID + seg + 1
    return f"{timeline:08X}{segno // SEGMENTS_PER_XLOGID:08X}{segno % SEGMENTS_PER_XLOGID:08X}"


def segment_end_lsn(segment: str) -> int:
    """The LSN just past a segment: where WAL replayed to its end would stop."""
    segno = int(segment[8:16], 16) * SEGMENTS_PER_XLOGID + int(segment[16:24], 16)
    return (segno + 1) * SEGMENT_SIZE
