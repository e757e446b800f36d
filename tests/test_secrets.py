"""The clusters' password never reaches a report: summary files, plots' pages, Allure results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SECRET = "Pw-4f9c2e7a1b-not-for-reports"


def test_clusters_require_the_password(make_cluster):
    cluster = make_cluster("auth", seeded=False)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(cluster.conninfo(), password="wrong").close()
    assert cluster.scalar("SELECT 1") == 1


def test_no_report_contains_the_password(tmp_path):
    reports, results = tmp_path / "reports", tmp_path / "allure"
    targets = tmp_path / "targets.toml"
    targets.write_text('[logical_restore]\nrto = "0.001s"\n')  # a breach: failures and tracebacks in the reports
    env = dict(os.environ, PGDRILL_PG_PASSWORD=SECRET)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "drills/test_monthly.py",
                          "drills/test_runbook_defects.py", "-k", "logical or roles or sqlalchemy",
                          "--dr-report-dir", str(reports), "--dr-targets", str(targets), "--alluredir", str(results)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert "RTO_BREACH" in run.stdout, run.stdout[-3000:]  # the drill ran, failed as arranged, and reported
    files = [p for p in (*reports.rglob("*"), *results.rglob("*")) if p.is_file()]
    assert any(p.name == "summary.json" for p in files) and any(p.name.endswith("-result.json") for p in files)
    leaking = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaking == []
