"""A drill's results as Prometheus metrics, for the dashboards the team already watches, through the well-kept client
library (prometheus_client): `--metrics-file PATH` writes node_exporter's textfile-collector format (atomically),
`--pushgateway URL` pushes to a Pushgateway (job "pgdrill", one group per scenario and backend: a push replaces
its group, so a gate run never erases the monthly drill's series). Labels are bounded: the scenario's
result id and the backend, never a run id. A Pushgateway that cannot be reached does not change the drill's verdict:
the failure is said on the terminal and in summary.json (`metrics.push_error`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

LABELS = ("scenario", "backend")


def registry_for(data: dict) -> CollectorRegistry:
    """One gauge family per measure; a scenario not run sets none of its samples (absent, not zero)."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = LABELS) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    rto = gauge("pgdrill_rto_seconds", "measured recovery time of the scenario's last run")
    rto_target = gauge("pgdrill_rto_target_seconds", "the RTO target the scenario was judged against")
    rpo = gauge("pgdrill_rpo_seconds", "measured data loss window of the scenario's last run")
    rpo_target = gauge("pgdrill_rpo_target_seconds", "the RPO target the scenario was judged against")
    passed = gauge("pgdrill_passed", "1 when the scenario's last run passed, 0 when it failed")
    lost = gauge("pgdrill_lost_transactions", "acknowledged transactions the scenario's last recovery lost")
    last_success = gauge("pgdrill_last_success_timestamp_seconds", "when the scenario last passed (the history's "
                         "last pass when there is a history)")
    defects = Gauge("pgdrill_runbook_defects", "runbook defects the last run proved", registry=registry)
    finished = Gauge("pgdrill_last_run_timestamp_seconds", "when the last drill run finished", registry=registry)
    trends = (data.get("history") or {}).get("scenarios", {})
    for s in data.get("scenarios", []):
        if s["status"] not in ("passed", "failed"):
            continue
        key = (s["id"], s["backend"])
        for gauge_, value in ((rto, s.get("rto_seconds")), (rpo, s.get("rpo_seconds")),
                              (rto_target, s.get("rto_target_seconds")), (rpo_target, s.get("rpo_target_seconds")),
                              (lost, s.get("lost_acknowledged_transactions"))):
            if value is not None:
                gauge_.labels(*key).set(value)
        passed.labels(*key).set(1 if s["status"] == "passed" else 0)
        last = (trends.get(f"{s['id']} ({s['backend']})") or {}).get("last_passed") or (
            data["finished_at"] if s["status"] == "passed" else None)
        if last:
            last_success.labels(*key).set(datetime.fromisoformat(last).timestamp())
    defects.set(len(data.get("runbook_defects", [])))
    finished.set(datetime.fromisoformat(data["finished_at"]).timestamp())
    return registry


def publish(data: dict, metrics_file: Path | None, pushgateway: str) -> dict:
    """The textfile and the push, as asked; returns what happened (for summary.json), never raises for the push."""
    registry = registry_for(data)
    done: dict[str, str | None] = {"file": None, "pushgateway": pushgateway or None, "push_error": None}
    if metrics_file is not None:
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(metrics_file), registry)
        done["file"] = str(metrics_file)
    if pushgateway and data.get("scenarios"):  # a run with no scenario (the daily overdue job) pushes nothing
        try:
            for key, one in per_scenario(data).items():  # a push replaces its group: one group per scenario and backend
                push_to_gateway(pushgateway, job="pgdrill", registry=registry_for(one), timeout=10,
                                grouping_key={"scenario": key[0], "backend": key[1]})
        except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
            done["push_error"] = f"the Pushgateway at {pushgateway} did not take the metrics: {exc}"
    return done


def per_scenario(data: dict) -> dict[tuple[str, str], dict]:
    """The run's data cut per scenario and backend, so that pushing one run never erases another's series."""
    return {(s["id"], s["backend"]): {**data, "scenarios": [s]} for s in data["scenarios"]}
