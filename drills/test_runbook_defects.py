"""Runbook defects, proved by running the runbook's literal commands once in small scratch clusters.

They go to summary.json's runbook_defects, not into the corrected scenarios' pass/fail. A probe that
no longer reproduces fails here: the runbook would then be right on this PostgreSQL, and the
defect list must be revisited. With --runbook, a defect is probed only where that runbook writes it
(scenarios/runbook/signatures.py), and its lines go with it: a fixed step is "not in this runbook", not a
finding about a mistake the document no longer makes.
"""

from __future__ import annotations

import json
from functools import partial

import allure
import pytest

from pgdrill.fixtures import cost
from pgdrill.fixtures.seed import rows_for_scale
from pgdrill.reports.summary import DEFECT_PROPERTY
from pgdrill.scenarios.defects import PROBES, Probe, ProbeContext, probe_scale
from pgdrill.scenarios.runbook.document import Runbook
from pgdrill.scenarios.runbook.signatures import sightings

pytestmark = [pytest.mark.monthly, pytest.mark.runbook]


def written_in(runbook: Runbook | None, probe: Probe) -> dict[str, list[str]] | None:
    """{code: ["line N: text", ...]} for the probe's codes the runbook writes; None without --runbook."""
    if runbook is None:
        return None
    return {code: [f"line {s.line}: {s.text}" for s in sightings(runbook, code) or []]
            for code in (*probe.proves, *probe.size_dependent)}


def data_vectors(seed_scale: float, installation) -> int:
    """How many vectors the drill's own data has in its HNSW-indexed table (none without pgvector)."""
    return rows_for_scale(seed_scale)["goals"] if installation.pgvector_version else 0


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_runbook_defect(probe: Probe, drill_context, drill_config, pg_installation, cluster_factory, runbook, request):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("runbook defects")
    allure.dynamic.story("the runbook's literal commands on PostgreSQL 16")
    written = written_in(runbook, probe)
    expected = [code for code in probe.proves if written is None or written[code]]
    if written is not None and not any(written.values()):
        pytest.skip(f"not run: {runbook.path.name} writes none of {', '.join(written)} (the step is fixed, or the "
                    "runbook does not have it)")
    cluster_factory.seeded_template(probe_scale(drill_config.seed_scale))  # seeding is not a probe's cost
    if drill_config.literal_restore:
        cluster_factory.seeded_template()
    context = ProbeContext(partial(drill_context.make_cluster, scale=probe_scale(drill_config.seed_scale)),
                           drill_context.workdir, data_vectors=data_vectors(drill_config.seed_scale, pg_installation),
                           full_size=drill_context.make_cluster if drill_config.literal_restore else None)
    with cost.drill(f"runbook-defect probe {probe.name}"):
        found = probe.run(context)
    defects = [d for d in found if written is None or written.get(d.code)]
    for defect in defects:
        defect.written_at.extend(written[defect.code] if written else [])
    allure.dynamic.title("Runbook defect proved: " + ", ".join(d.code for d in defects) if defects
                         else f"Runbook probe {probe.name}: not reproduced")
    unseen = [code for code in probe.size_dependent if code not in {d.code for d in defects}]
    allure.dynamic.description("\n\n".join([f"{d.message}. Fix: {d.fix}" for d in defects] + [
        f"{code}: not reproduced at this size (--seed-scale {drill_config.seed_scale}): it shows only past "
        "a size the data does not reach here" for code in unseen])
        or "The runbook's literal command behaved as the runbook says.")
    for defect in defects:
        request.node.user_properties.append((DEFECT_PROPERTY, json.dumps(defect.as_dict())))
        allure.attach(f"{defect.message}\nfix: {defect.fix}\nevidence: {defect.evidence}"
                      + "".join(f"\nwritten at {where}" for where in defect.written_at),
                      name=defect.code, attachment_type=allure.attachment_type.TEXT)
    for code in unseen:
        print(f"{probe.name}: {code} not reproduced at this size")
    proved = [d.code for d in defects if d.code not in probe.size_dependent]
    assert proved == expected, (
        f"the runbook's literal variant did not misbehave as recorded: expected {expected}, proved {proved}")
