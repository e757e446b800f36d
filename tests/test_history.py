"""The drill history (reports/history.py): runs append, the trend is read back, a scheduled scenario whose last pass
is too old is DRILL_OVERDUE (in the daily `-m overdue` job too, through a real pytest run), a corrupt history is kept
and replaced, an unwritable one is refused in one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pgdrill.reports.history import FILE, History, HistoryError, overdue
from pgdrill.reports.plugin import record

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def run(finished: datetime, *results: tuple[str, str, float | None]) -> dict:
    """A finished run's summary data, as the summary plugin holds it (id, status, RTO per scenario)."""
    return {"drill_id": f"d{finished:%m%d}", "finished_at": finished.isoformat(), "suite_commit": "abc",
            "host": "h", "scenarios": [{"id": rid, "backend": "local", "status": status, "rto_seconds": rto,
                                        "rpo_seconds": 1.0, "rto_target_seconds": 900, "rpo_target_seconds": 300,
                                        "lost_acknowledged_transactions": 0, "facts": {}} for rid, status, rto in results]}


def test_runs_append_and_the_trend_is_read_back(tmp_path):
    history = History.open(tmp_path)
    history.append(run(NOW - timedelta(days=60), ("physical_restore", "passed", 10.0)))
    history.append(run(NOW - timedelta(days=30), ("physical_restore", "failed", 30.0)))
    latest = run(NOW, ("physical_restore", "passed", 12.5))
    trend = record(history, latest)["scenarios"]["physical_restore (local)"]
    assert trend["last_passed"] == NOW.isoformat() and trend["runs_12_months"] == 3
    assert trend["failures_12_months"] == 1 and trend["rto_change_vs_last_pass"] == 0.25  # 12.5 s against 10 s
    assert [point[2] for point in trend["series"]] == ["passed", "failed", "passed"]


def test_a_scenario_past_its_schedule_is_overdue_and_a_fresh_one_is_not(tmp_path):
    history = History.open(tmp_path)
    history.append(run(NOW - timedelta(days=40), ("logical_restore", "passed", 3.0)))
    history.append(run(NOW - timedelta(days=2), ("logical_restore", "failed", 3.0), ("pitr", "passed", 5.0)))
    late = overdue(history, {"logical_restore": 31, "pitr": 31, "complete_rebuild": 92}, NOW)
    assert late == ["DRILL_OVERDUE: logical_restore last passed 40 days ago (2026-10-27), past its 31-day schedule",
                    f"DRILL_OVERDUE: complete_rebuild has never passed in {history.path} (schedule: every 92 days)"]
    assert {line.split(":")[0] for line in late} == {"DRILL_OVERDUE"}
    assert overdue(history, {"pitr": 31}, NOW) == []


def test_the_daily_job_fails_on_a_stale_history_and_passes_on_a_fresh_one(tmp_path):
    stale, fresh = History.open(tmp_path / "stale"), History.open(tmp_path / "fresh")
    now = datetime.now(UTC)
    stale.append(run(now - timedelta(days=40), ("pitr", "passed", 5.0)))
    fresh.append(run(now - timedelta(days=1), ("pitr", "passed", 5.0)))

    def daily(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "drills", "-m", "overdue", "-p", "no:xdist", "-q",
                               "-p", "no:randomly", "--dr-history", str(directory), "--drill-schedule", "pitr=31d",
                               "--dr-report-dir", str(tmp_path / f"report-{directory.name}")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    failing, passing = daily(tmp_path / "stale"), daily(tmp_path / "fresh")
    assert failing.returncode == 1 and "DRILL_OVERDUE: pitr last passed 40 days ago" in failing.stdout, failing.stdout
    assert passing.returncode == 0, passing.stdout
    summary = json.loads((tmp_path / "report-fresh" / "summary.json").read_text())
    assert summary["history"]["appended"] == 0  # the daily job runs no drill, so it appends nothing
    assert summary["evidence"] == {"signed": False, "key_id": None,
                                   "file": "evidence.intoto.json (unsigned: no --evidence-key)"}


def test_a_corrupt_history_is_kept_and_a_new_one_started(tmp_path):
    (tmp_path / FILE).write_bytes(b"this is not an SQLite database, it was hand-edited" * 100)
    history = History.open(tmp_path)
    assert history.replaced is not None and history.replaced.read_bytes().startswith(b"this is not")
    assert history.append(run(NOW, ("pitr", "passed", 1.0))) == 1 and len(history.rows("pitr")) == 1


def test_an_unwritable_history_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(HistoryError, match=r"--dr-history .*a-file/history: cannot write there \(.*\): give a "
                                           "directory this user may write"):
        History.open(tmp_path / "a-file" / "history")
