"""Drill metrics for the team's dashboards (reports/metrics.py): a real drill pushes to a real Pushgateway, a real
Prometheus scrapes it, and a PromQL query answers with the drill's RTO; the textfile has the same samples; a
Pushgateway that cannot be reached is reported and changes no verdict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdrill.fixtures.ports import claim_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def prometheus(tmp_path) -> Iterator[tuple[str, str]]:
    """A Pushgateway and a Prometheus scraping it every second, both on loopback ports of this run, stopped after."""
    if not (shutil.which("prometheus") and shutil.which("prometheus-pushgateway")):
        if os.environ.get("CI"):
            pytest.fail("prometheus is missing: .ci/run installs it with reports/monitoring/install.sh")
        pytest.skip("not run: prometheus and prometheus-pushgateway are not installed (reports/monitoring/install.sh)")
    gateway_port, prometheus_port = claim_port(), claim_port()
    gateway = f"127.0.0.1:{gateway_port.port}"
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
        f"    static_configs: [{{targets: ['{gateway}']}}]\n")
    logs = open(tmp_path / "monitoring.log", "w")
    processes = [
        # in memory only: Debian's build persists to /var/lib/prometheus by default, outside the run
        subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address={gateway}", "--persistence.file="],
                         stdout=logs, stderr=logs),
        subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus_port.port}"],
                         stdout=logs, stderr=logs)]
    try:
        query = f"http://127.0.0.1:{prometheus_port.port}"
        deadline = time.monotonic() + 60
        while not (answers(f"http://{gateway}/-/ready") and answers(f"{query}/-/ready")):
            if time.monotonic() > deadline:
                pytest.fail("the Pushgateway or Prometheus did not start: " + (tmp_path / "monitoring.log").read_text()[-800:])
            time.sleep(0.2)
        yield f"http://{gateway}", query
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        logs.close()
        gateway_port.release()
        prometheus_port.release()


def promql(base: str, query: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]["result"]


def drill(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "--dr-report-dir",
                           str(tmp_path / "report"), "--dr-history", str(tmp_path / "history"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_a_pushed_drill_answers_a_promql_query(prometheus, tmp_path):
    gateway, query = prometheus
    textfile = tmp_path / "textfile" / "pgdrill.prom"
    ran = drill(tmp_path, "drills/test_monthly.py", "-k", "logical", "--pushgateway", gateway,
                "--metrics-file", str(textfile))
    assert ran.returncode == 0, ran.stdout[-2000:]
    rto = json.loads((tmp_path / "report" / "summary.json").read_text())["scenarios"][0]["rto_seconds"]
    deadline, found = time.monotonic() + 30, []
    while not found and time.monotonic() < deadline:
        found = promql(query, 'pgdrill_rto_seconds{scenario="logical_restore", backend="local"}')
        time.sleep(0.5)
    assert found and float(found[0]["value"][1]) == pytest.approx(rto), found
    assert float(promql(query, 'pgdrill_passed{scenario="logical_restore"}')[0]["value"][1]) == 1
    assert f'pgdrill_rto_seconds{{backend="local",scenario="logical_restore"}} {rto}' in textfile.read_text()


def test_an_unreachable_pushgateway_changes_no_verdict(tmp_path):
    closed = claim_port()  # claimed, never listened on: nothing answers there
    try:
        ran = drill(tmp_path, "drills/test_monthly.py", "-k", "logical", "--pushgateway",
                    f"http://127.0.0.1:{closed.port}")
    finally:
        closed.release()
    assert ran.returncode == 0 and "did not take the metrics" in ran.stdout, ran.stdout[-1500:]
    said = json.loads((tmp_path / "report" / "summary.json").read_text())["metrics"]
    assert said["push_error"].startswith(f"the Pushgateway at http://127.0.0.1:{closed.port} did not take the metrics")


def test_the_grafana_dashboard_asks_only_for_metrics_a_drill_exports():
    import re

    from pgdrill.reports.metrics import registry_for
    data = {"finished_at": "2026-12-06T12:00:00+00:00", "backend": "local", "runbook_defects": [],
            "scenarios": [{"id": "pitr", "backend": "local", "status": "passed", "rto_seconds": 5.0,
                           "rpo_seconds": 0.4, "rto_target_seconds": 1800, "rpo_target_seconds": 300,
                           "lost_acknowledged_transactions": 0}]}
    exported = {metric.name for metric in registry_for(data).collect()}
    dashboard = (ROOT / "docs" / "monitoring" / "grafana-dashboard.json").read_text()
    asked = set(re.findall(r"pgdrill_[a-z_]+", dashboard))
    assert asked and asked <= exported, asked - exported
