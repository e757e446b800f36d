"""The slowdown gate fails a restore slowed on purpose and passes an unchanged one (pytest-benchmark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def drill(storage: Path, report_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # a run of its own, not a worker
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "drills/test_monthly.py", "-k",
                           "logical", f"--benchmark-storage=file://{storage}", "--dr-report-dir", str(report_dir),
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_gate_fails_a_throttled_restore_and_passes_an_unchanged_one(tmp_path):
    storage, reports = tmp_path / "history", tmp_path / "reports"
    baseline = drill(storage, reports, "--benchmark-save=baseline")
    assert baseline.returncode == 0, baseline.stdout[-2000:]
    gate = ("--benchmark-compare=0001", "--benchmark-compare-fail=mean:50%")

    slowed = drill(storage, reports, *gate, "--throttle-restore", "15")
    assert slowed.returncode != 0
    assert "Performance has regressed" in slowed.stdout + slowed.stderr

    unchanged = drill(storage, reports, *gate)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-2000:]
