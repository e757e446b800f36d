"""Runbook defects, proved by running the runbook's literal commands once in scratch clusters.

They go to summary.json's runbook_defects, not into the corrected scenarios' pass/fail. A probe that
no longer reproduces fails here: the runbook would then be right on this PostgreSQL, and the
defect list must be revisited.
"""

from __future__ import annotations

import json

import allure
import pytest

from pgdrill.reports.summary import DEFECT_PROPERTY
from pgdrill.scenarios.defects import PROBES, Probe, ProbeContext

pytestmark = pytest.mark.monthly


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_runbook_defect(probe: Probe, drill_context, drill_config, request):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("runbook defects")
    allure.dynamic.story("the runbook's literal commands on PostgreSQL 16")
    defects = probe.run(ProbeContext(drill_context.make_cluster, drill_context.workdir))
    allure.dynamic.title("Runbook defect proved: " + ", ".join(d.code for d in defects) if defects
                         else f"Runbook probe {probe.name}: not reproduced")
    unseen = [code for code in probe.size_dependent if code not in {d.code for d in defects}]
    allure.dynamic.description("\n\n".join([f"{d.message}. Fix: {d.fix}" for d in defects] + [
        f"{code}: not reproduced at this size (--seed-scale {drill_config.seed_scale}): it shows only past "
        "a size the data does not reach here" for code in unseen])
        or "The runbook's literal command behaved as the runbook says.")
    for defect in defects:
        request.node.user_properties.append((DEFECT_PROPERTY, json.dumps(defect.as_dict())))
        allure.attach(f"{defect.message}\nfix: {defect.fix}\nevidence: {defect.evidence}", name=defect.code,
                      attachment_type=allure.attachment_type.TEXT)
    for code in unseen:
        print(f"{probe.name}: {code} not reproduced at this size")
    proved = [d.code for d in defects if d.code not in probe.size_dependent]
    assert proved == list(probe.proves), (
        f"the runbook's literal variant did not misbehave as recorded: expected {list(probe.proves)}, "
        f"proved {proved}")
