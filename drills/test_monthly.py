"""The monthly restore drill: runbook scenarios 1-3, each judged by the checklist, RTO and RPO."""

from __future__ import annotations

import json

import allure
import pytest

from reports.summary import SCENARIO_PROPERTY
from scenarios import logical, physical, pitr

SCENARIOS = {
    "logical_restore": (logical, "Scenario 1: Restore from Logical Backup (pg_dump)"),
    "physical_restore": (physical, "Scenario 2: Restore from Physical Backup (pg_basebackup)"),
    "pitr": (pitr, "Scenario 3: Point-in-Time Recovery (PITR)"),
}


def record(request, result) -> None:
    """Hand the result to the summary (via user_properties, which pytest-xdist carries) and to Allure."""
    request.node.user_properties.append((SCENARIO_PROPERTY, json.dumps(result.as_dict(), default=str)))
    table = "\n".join(f"{c.status:8} {c.name}: {c.detail}" for c in result.checks)
    allure.attach(table, name="recovery verification checklist", attachment_type=allure.attachment_type.TEXT)
    allure.attach(json.dumps({"rto_seconds": result.rto_seconds, "rto_target_seconds": result.rto_target_seconds,
                              "rpo_seconds": result.rpo_seconds, "rpo_target_seconds": result.rpo_target_seconds,
                              "lost_acknowledged_transactions": result.lost_acknowledged_transactions}, indent=2),
                  name="RTO/RPO", attachment_type=allure.attachment_type.JSON)


@pytest.mark.monthly
@pytest.mark.parametrize("scenario_id", list(SCENARIOS))
def test_scenario(scenario_id, drill_context, request):
    module, story = SCENARIOS[scenario_id]
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature(scenario_id)
    allure.dynamic.story(story)
    result = module.run(drill_context)
    record(request, result)
    assert result.status == "passed", result.explain()
    assert result.rto_seconds <= result.rto_target_seconds
    assert result.rpo_seconds <= result.rpo_target_seconds
