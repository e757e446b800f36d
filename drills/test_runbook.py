"""The runbook given with --runbook, drilled as written: each scenario's steps run in the sandbox after the
backup section, judged by the corrected drills' judge (tox -e runbook; docker backend)."""

from __future__ import annotations

import json

import allure
import pytest

from pgdrill.reports.summary import SCENARIO_PROPERTY
from pgdrill.scenarios import runbook_drill

pytestmark = [pytest.mark.runbook, pytest.mark.docker]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runbook_scenario" in metafunc.fixturenames:
        from pgdrill.fixtures.plugin import RUNBOOK_KEY
        book = metafunc.config.stash[RUNBOOK_KEY]
        numbers = [s.number for s in book.scenarios] if book else [0]
        metafunc.parametrize("runbook_scenario", numbers, ids=[f"scenario-{n}" for n in numbers])


def test_runbook_scenario_as_written(runbook_scenario, runbook, drill_context, drill_config, open_sandbox, request):
    if runbook is None:
        pytest.skip("not run: no --runbook given (the runbook to drill as written)")
    scenario = next(s for s in runbook.scenarios if s.number == runbook_scenario)
    if scenario.kind is None:
        pytest.skip(f"not run: Scenario {scenario.number} ({scenario.title}): neither its commands nor its title "
                    "tell its kind")
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("the runbook as written")
    allure.dynamic.story(f"Scenario {scenario.number}: {scenario.title}")
    allure.dynamic.parameter("runbook", str(runbook.path))
    result = runbook_drill.run(drill_context, runbook, scenario, lambda cluster: open_sandbox(runbook, cluster),
                               timeout=drill_config.script_timeout, given=drill_config.runbook_set)
    request.node.user_properties.append((SCENARIO_PROPERTY, json.dumps(result.as_dict(), default=str)))
    allure.dynamic.title(f"{result.id}: Scenario {scenario.number} as written: {result.status}")
    for step in result.facts.get("runbook_steps", []):
        mark = {"passed": "\u2713", "failed": "\u2717"}.get(step["status"], "not run")
        with allure.step(f"{mark} {step['section']} step {step['number'] or step['title']} (lines {step['lines']}), "
                         f"{step['seconds']:.1f} s"):
            allure.attach("\n".join([step["command"] or "(no command)", "", f"status: {step['status']} "
                                      f"{step['why']}", f"exit status: {step['exit_status']}", "",
                                      step["output_tail"], *step["substitutions"], *step["calls"]]),
                          name="command, output, substitutions, docker calls",
                          attachment_type=allure.attachment_type.TEXT)
    print(result.explain())
    assert result.status in ("passed", "not_run"), result.explain()
