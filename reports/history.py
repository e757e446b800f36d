"""The drill history: every scenario result of every run, appended to one SQLite database (the standard library's
sqlite3: one file, transactions, no server), so that a run can say when each scenario last passed, how often it
failed in the last twelve months, and whether its RTO is creeping up; and so that a cheap daily job can fail when
a scheduled drill silently stopped running (`pytest drills -m overdue`, DRILL_OVERDUE).

A history file that SQLite cannot read is kept under a new name and a new history is started; the summary and the
terminal name the old file. The file itself is not in the signed evidence (every later run changes it); a run's rows
are its summary.json's scenarios, which are.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

FILE = "drill-history.sqlite"
YEAR = timedelta(days=365)
COLUMNS = ("drill_id", "finished_at", "result_id", "backend", "status", "rto_seconds", "rpo_seconds",
           "rto_target_seconds", "rpo_target_seconds", "lost_transactions", "suite_commit", "runbook_sha256", "host",
           "facts")
CREATE = f"CREATE TABLE IF NOT EXISTS results ({', '.join(COLUMNS)})"
# a scheduled drill's result ids, and how old its last pass may be (the runbook: monthly restore test, quarterly
# rebuild); --drill-schedule changes them
SCHEDULE = {"logical_restore": 31.0, "physical_restore": 31.0, "pitr": 31.0, "complete_rebuild": 92.0}


class HistoryError(ValueError):
    """The history cannot be used; the message is one sentence naming the file and what to do."""


@dataclass(frozen=True)
class Row:
    finished_at: datetime
    status: str
    rto_seconds: float | None


class History:
    """One history file. Opening it checks it; a corrupt file is set aside (renamed) and a new one started."""

    def __init__(self, path: Path, replaced: Path | None = None) -> None:
        self.path = path
        self.replaced = replaced  # the unreadable file set aside, when this history had to start anew

    @classmethod
    def open(cls, directory: Path) -> History:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = directory / ".write-probe"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise HistoryError(f"--dr-history {directory}: cannot write there ({exc.strerror}): give a directory "
                               "this user may write") from exc
        path = directory / FILE
        try:
            with sqlite3.connect(path) as db:
                db.execute(CREATE)
                db.execute("SELECT count(*) FROM results").fetchone()
            return cls(path)
        except sqlite3.DatabaseError:
            kept = path.with_name(f"{FILE}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            path.rename(kept)
            with sqlite3.connect(path) as db:
                db.execute(CREATE)
            return cls(path, replaced=kept)

    def append(self, data: dict) -> int:
        """One row per scenario result of a finished run's summary data; returns how many."""
        book = data.get("runbook") or {}
        runbook_sha = hashlib.sha256(json.dumps(book, sort_keys=True).encode()).hexdigest() if book else None
        rows = [(data["drill_id"], data["finished_at"], s["id"], s["backend"], s["status"], s.get("rto_seconds"),
                 s.get("rpo_seconds"), s.get("rto_target_seconds"), s.get("rpo_target_seconds"),
                 s.get("lost_acknowledged_transactions"), data.get("suite_commit"), runbook_sha, data.get("host"),
                 json.dumps(s.get("facts", {}), default=str)) for s in data.get("scenarios", [])]
        with sqlite3.connect(self.path) as db:
            db.executemany(f"INSERT INTO results VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        return len(rows)

    def rows(self, result_id: str, backend: str | None = None) -> list[Row]:
        """A scenario's results, oldest first (any backend unless one is named)."""
        query = "SELECT finished_at, status, rto_seconds FROM results WHERE result_id = ?"
        params: tuple = (result_id,)
        if backend:
            query, params = query + " AND backend = ?", (result_id, backend)
        with sqlite3.connect(self.path) as db:
            found = db.execute(query + " ORDER BY finished_at", params).fetchall()
        return [Row(datetime.fromisoformat(at), status, rto) for at, status, rto in found]

    def trend(self, result_id: str, backend: str, now: datetime) -> dict:
        """For the summary: last pass, runs and failures in the last 12 months, this run's RTO against the last
        passing run before it, and the series for the plot."""
        rows = [r for r in self.rows(result_id, backend) if now - r.finished_at <= YEAR]
        passed = [r for r in rows if r.status == "passed"]
        current = rows[-1] if rows else None
        earlier = [r for r in passed if current is None or r.finished_at < current.finished_at]
        change = None
        if current and current.rto_seconds is not None and earlier and earlier[-1].rto_seconds:
            change = round(current.rto_seconds / earlier[-1].rto_seconds - 1, 3)
        return {"last_passed": passed[-1].finished_at.isoformat() if passed else None, "runs_12_months": len(rows),
                "failures_12_months": sum(r.status == "failed" for r in rows),
                "rto_change_vs_last_pass": change,
                "series": [[r.finished_at.isoformat(), r.rto_seconds, r.status] for r in rows]}


def overdue(history: History, schedule: dict[str, float], now: datetime) -> list[str]:
    """DRILL_OVERDUE lines: each scheduled scenario whose last pass (any backend) is older than its schedule."""
    late = []
    for result_id, days in schedule.items():
        passed = [r for r in history.rows(result_id) if r.status == "passed"]
        if not passed:
            late.append(f"DRILL_OVERDUE: {result_id} has never passed in {history.path} (schedule: every {days:g} days)")
            continue
        age = now - passed[-1].finished_at
        if age > timedelta(days=days):
            late.append(f"DRILL_OVERDUE: {result_id} last passed {age.days} days ago ({passed[-1].finished_at:%Y-%m-%d}),"
                        f" past its {days:g}-day schedule")
    return late
