"""The slowdown gate judges recovery: it fails a restore that does more work and passes an unchanged one.

What pytest-benchmark records for a drill is its RTO (drills/test_monthly.py's RecoveryClock), so the
gate is not diluted by the backup, the load or the verification around the recovery window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def drill(storage: Path, report_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # a run of its own, not a worker
    # one restore stream: with -j N the INSERT dump's extra statements spread over the workers, and at this size
    # the slowdown they cause sinks into the noise (it passed +50 % in one CI run and not in the next)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "drills/test_monthly.py", "-k",
                           "logical", f"--benchmark-storage=file://{storage}", "--dr-report-dir", str(report_dir),
                           "--restore-jobs", "1", *extra], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=env)


def saved(storage: Path) -> dict:
    return json.loads(next(storage.rglob("0001_baseline.json")).read_text())["benchmarks"][0]


def test_gate_fails_a_restore_doing_more_work_and_passes_an_unchanged_one(tmp_path):
    storage, reports = tmp_path / "history", tmp_path / "reports"
    baseline = drill(storage, reports, "--benchmark-save=baseline")
    assert baseline.returncode == 0, baseline.stdout[-2000:]
    recorded = saved(storage)
    assert recorded["stats"]["mean"] == pytest.approx(recorded["extra_info"]["rto_seconds"]), "the gate times the RTO"
    gate = ("--benchmark-compare=0001", "--benchmark-compare-fail=mean:50%")

    slowed = drill(storage, reports, *gate, "--dump-inserts")  # the dump as INSERTs: the restore does more work
    assert slowed.returncode != 0, slowed.stdout[-2000:]
    assert "Performance has regressed" in slowed.stdout + slowed.stderr

    unchanged = drill(storage, reports, *gate)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-2000:]
