"""Writes <report dir>/summary.json at the end of every run and says where it is.

Scenario results travel as a test's user_properties, which pytest-xdist carries from the workers to
the controller, so one process (the controller, or the only one) writes the summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdrill.reports import allure_files, plots, render
from pgdrill.reports.summary import DEFECT_PROPERTY, FORECAST_PROPERTY, SCENARIO_PROPERTY, DrillSummary
from pgdrill.scenarios.runbook.document import as_dict
from pgdrill.scenarios.runbook.signatures import SIGNATURES, sightings


class SummaryPlugin:
    def __init__(self, summary: DrillSummary, writes: bool) -> None:
        self.summary = summary
        self.writes = writes

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == SCENARIO_PROPERTY and report.when == "call":
                self.summary.add_scenario(json.loads(str(value)))
            elif key == DEFECT_PROPERTY and report.when == "call":
                self.summary.add_defect(json.loads(str(value)))
            elif key == FORECAST_PROPERTY and report.when == "call":
                self.summary.data["forecasts"].append(json.loads(str(value)))
        if report.when == "call" or report.outcome != "passed":
            self.summary.record_test(report.nodeid, report.when, report.outcome)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.writes:
            return
        path = self.summary.write(int(exitstatus))
        names = plots.draw_all(path.parent, self.summary.data)
        render.write_human(path.parent, self.summary.data, names)
        results_dir = session.config.getoption("allure_report_dir", None)
        if results_dir:
            allure_files.write(Path(results_dir), self.summary.data)

    def pytest_terminal_summary(self, terminalreporter) -> None:
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
    config.pluginmanager.register(SummaryPlugin(summary, writes=not is_worker), "pgdrill-summary")
