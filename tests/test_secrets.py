"""The clusters' password never reaches a report: summary files, plots' pages, Allure results, also when a team's
script traces it into its stderr; the drill's own role gets a SCRAM verifier, never the password."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgdrill.fixtures import secret

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


@pytest.mark.parametrize("text, shown", [
    ("+ export PGPASSWORD=s3cr3t-value", "+ export PGPASSWORD=[redacted]"),
    ("host=db password=s3cr3t-value user=x", "host=db password=[redacted] user=x"),
    ("ALTER ROLE app PASSWORD 'it''s-s3cr3t'", "ALTER ROLE app PASSWORD [redacted]"),
    ("postgresql://postgres:s3cr3t-value@127.0.0.1:5432/db", "postgresql://postgres:[redacted]@127.0.0.1:5432/db"),
    ("password_encryption = 'scram-sha-256'", "password_encryption = 'scram-sha-256'"),
])
def test_a_password_in_its_usual_places_is_redacted(text, shown):
    assert secret.redact(text) == shown


def test_a_registered_secret_is_redacted_anywhere():
    value = secret.register(secrets.token_urlsafe(12))
    assert value not in secret.redact(f"echo {value}x{value}")
    assert secret.redact_tree({"a": [f"-{value}-", 3]}) == {"a": [f"-{secret.MASK}-", 3]}


def test_a_scram_verifier_logs_in_with_the_password(make_cluster):
    """The verifier computed here is what PostgreSQL itself accepts: a role given it logs in with the password, a
    quote in the password included."""
    cluster = make_cluster("scram", seeded=False)
    password = "it's a 'quoted' secret"
    cluster.query(f"CREATE ROLE scram_probe LOGIN PASSWORD '{secret.scram_verifier(password)}'")
    assert cluster.scalar("SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid WHERE rolname = "
                          "'scram_probe'")
    if cluster.backend == "local" and cluster.host.startswith("/"):
        pytest.skip("not run: this cluster admits no TCP login")
    with psycopg.connect(host=cluster.host, port=cluster.port, user="scram_probe", password=password,
                         dbname="postgres") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("scram_probe",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=cluster.host, port=cluster.port, user="scram_probe", password=password + "x",
                        dbname="postgres")


def test_a_script_tracing_the_password_leaves_it_in_no_report(tmp_path):
    """`set -x` in a team's backup script prints PGPASSWORD expanded; the gate fails on it (BACKUP_SCRIPT_FAILED)
    and neither summary.json/md/html, nor Allure's results, nor pytest's own output hold the password."""
    password = secrets.token_urlsafe(16)
    reports, allure = tmp_path / "reports", tmp_path / "allure"
    env = {**os.environ, "PGDRILL_PG_PASSWORD": password}
    run = subprocess.run([sys.executable, "-m", "pytest", "drills/test_script_gate.py", "-k", "logical", "-p",
                          "no:xdist", "-p", "no:cacheprovider", "--backup-script",
                          "tests/scripts/backup_traces_password.sh", "--dr-report-dir", str(reports),
                          f"--alluredir={allure}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "BACKUP_SCRIPT_FAILED" in run.stdout and "PGPASSWORD=[redacted]" in run.stdout, run.stdout[-3000:]
    files = [p for p in (*reports.rglob("*"), *allure.rglob("*")) if p.is_file()]
    assert {p.name for p in files} >= {"summary.json", "summary.md", "summary.html"}
    leaking = [str(p) for p in files if password.encode() in p.read_bytes()]
    assert not leaking, f"the password is in {leaking}"
    assert password not in run.stdout + run.stderr
