"""Writes <report dir>/summary.json at the end of every run and says where it is.

Scenario results travel as a test's user_properties, which pytest-xdist carries from the workers to
the controller, so one process (the controller, or the only one) writes the summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pgdrill.fixtures import cost
from pgdrill.reports import allure_files, evidence, metrics, plots, render
from pgdrill.reports.history import History, HistoryError
from pgdrill.reports.summary import COST_PROPERTY, DEFECT_PROPERTY, FORECAST_PROPERTY, SCENARIO_PROPERTY, DrillSummary
from pgdrill.scenarios.runbook.document import as_dict
from pgdrill.scenarios.runbook.signatures import SIGNATURES, sightings


class SummaryPlugin:
    def __init__(self, summary: DrillSummary, writes: bool, history: History | None = None,
                 key: Ed25519PrivateKey | None = None, metrics_to: tuple[Path | None, str] = (None, "")) -> None:
        self.summary = summary
        self.writes = writes
        self.history = history  # the controller's: every run appends its results
        self.key = key  # the team's, for the signed evidence
        self.metrics_to = metrics_to  # --metrics-file, --pushgateway

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        cost.LEDGER.begin()  # before the test's fixtures: their set-up is part of its cost

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Generator[None, pytest.TestReport,
                                                                                              pytest.TestReport]:
        report = yield
        if call.when == "teardown":  # after every fixture it ended (the last test ends the session's)
            setattr(report, COST_PROPERTY, cost.LEDGER.account())  # pytest-xdist carries a report's attributes
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == SCENARIO_PROPERTY and report.when == "call":
                self.summary.add_scenario(json.loads(str(value)))
            elif key == DEFECT_PROPERTY and report.when == "call":
                self.summary.add_defect(json.loads(str(value)))
            elif key == FORECAST_PROPERTY and report.when == "call":
                self.summary.data["forecasts"].append(json.loads(str(value)))
        if getattr(report, COST_PROPERTY, None) is not None:  # not a user property: JUnit would print it per test
            self.summary.add_cost(report.nodeid, getattr(report, COST_PROPERTY))
        if report.when == "call" or report.outcome != "passed":
            self.summary.record_test(report.nodeid, report.when, report.outcome)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.writes:
            return
        data = self.summary.data
        data["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        history = self.history
        if history is not None:  # what goes beside the drill must not cost the run its summary
            data["history"] = beside("history", lambda: record(history, data), data)
        if any(self.metrics_to):
            data["metrics"] = beside("metrics", lambda: metrics.publish(data, *self.metrics_to), data)
        self.summary.data["evidence"] = {
            "signed": self.key is not None, "key_id": evidence.key_id(self.key.public_key()) if self.key else None,
            "file": evidence.ENVELOPE if self.key else f"{evidence.STATEMENT} (unsigned: no --evidence-key)"}
        path = self.summary.write(int(exitstatus))
        names = plots.draw_all(path.parent, self.summary.data)
        render.write_human(path.parent, self.summary.data, names)
        files = [path, path.with_name("summary.md"), path.with_name("summary.html"), *(path.parent / n for n in names)]
        results_dir = session.config.getoption("allure_report_dir", None)
        if results_dir:
            files += allure_files.write(Path(results_dir), self.summary.data)
        evidence.write(path.parent, files, {"drill_id": data["drill_id"], "finished_at": data["finished_at"],
                                            "suite_commit": data.get("suite_commit"), "verdict": render.verdict(data)},
                       self.key)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.history is not None and self.history.replaced is not None:
            terminalreporter.write_line(f"pgdrill: the drill history {self.history.replaced} could not be read; it is "
                                        f"kept, and a new history was started at {self.history.path}")
        if (self.summary.data.get("metrics") or {}).get("push_error"):
            terminalreporter.write_line(f"pgdrill: {self.summary.data['metrics']['push_error']} (no verdict changes)")
        for what, why in self.summary.data.get("not_written", {}).items():
            terminalreporter.write_line(f"pgdrill: the {what} was not written: {why} (no verdict changes)")
        if self.summary.written is not None:
            where = self.summary.written.resolve()
            terminalreporter.write_line(f"pgdrill summary: {where} (and summary.md, summary.html, plots beside it)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from pgdrill.fixtures.plugin import CONFIG_KEY, INSTALLATION_KEY, RUNBOOK_KEY
    is_worker = hasattr(config, "workerinput")
    summary = DrillSummary.start(config.stash[CONFIG_KEY], config.stash[INSTALLATION_KEY])
    book = config.stash[RUNBOOK_KEY]
    if book is not None:
        summary.data["runbook"] = as_dict(book, {code: [s.line for s in found] for code in SIGNATURES
                                                 if (found := sightings(book, code))})
    history = None
    if not is_worker:
        drill_config = config.stash[CONFIG_KEY]
        try:
            history = History.open(drill_config.dr_history or drill_config.dr_report_dir.parent / "drill-history")
        except HistoryError as exc:
            raise pytest.UsageError(f"pgdrill: {exc}") from None
    key, key_file = None, config.stash[CONFIG_KEY].evidence_key
    if not is_worker and key_file is not None:
        try:
            key = evidence.load_private_key(key_file)
        except evidence.EvidenceError as exc:
            raise pytest.UsageError(f"pgdrill: {exc}") from None
    drill_config = config.stash[CONFIG_KEY]
    config.pluginmanager.register(SummaryPlugin(summary, writes=not is_worker, history=history, key=key,
                                                metrics_to=(drill_config.metrics_file, drill_config.pushgateway)),
                                  "pgdrill-summary")


def record(history: History, data: dict) -> dict:
    """This run's results appended to the history; per scenario, its trend over the last twelve months."""
    appended = history.append(data)
    now = datetime.fromisoformat(data["finished_at"])
    return {"file": str(history.path), "replaced": str(history.replaced) if history.replaced else None,
            "appended": appended,
            "scenarios": {f"{s['id']} ({s['backend']})": history.trend(s["id"], s["backend"], now)
                          for s in data["scenarios"]}}


def beside(what: str, step: Callable[[], dict], data: dict) -> dict | None:
    """A step that goes beside the drill (the history, the metrics): its failure is said in the summary and on the
    terminal, and the summary is still written."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - a full disk or a locked history must not lose the drill's summary
        data.setdefault("not_written", {})[what] = f"{type(exc).__name__}: {exc}"
        return None
