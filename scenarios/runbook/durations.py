"""A target as runbooks write it: "30 minutes", "15 min", "< 5 minutes", "24 hours", "1 h", "90 s"."""

from __future__ import annotations

import re

UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
         "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
         "days": 86400}
WRITTEN = re.compile(r"^\s*(?:<=?|\u2264|under|up to|within|max(?:imum)?)?\s*(\d+(?:\.\d+)?)\s*([a-z]+)\.?\s*$", re.I)


def parse_target_duration(text: str) -> float | None:
    """Seconds, or None when the cell is not one duration ("Minutes to hours", "15-45 min")."""
    match = WRITTEN.match(text.replace("*", ""))
    if not match or match.group(2).lower() not in UNITS or float(match.group(1)) <= 0:
        return None
    return float(match.group(1)) * UNITS[match.group(2).lower()]
