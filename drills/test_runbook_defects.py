"""Runbook defects, proved by running the runbook's literal commands once in small scratch clusters.

They go to summary.json's runbook_defects, not into the corrected scenarios' pass/fail. A probe that
no longer reproduces fails here: the runbook would then be right on this PostgreSQL, and the
defect list must be revisited. With --runbook, a defect is probed only where that runbook writes it
(scenarios/runbook/signatures.py), and its lines go with it: a fixed step is "not in this runbook", not a
finding about a mistake the document no longer makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial

import allure
import pytest

from pgdrill.fixtures import cost
from pgdrill.fixtures.osuser import remove_tree
from pgdrill.fixtures.seed import rows_for_scale
from pgdrill.reports.summary import DEFECT_PROPERTY
from pgdrill.scenarios.defects import PROBES, Probe, ProbeRuns, probe_scale
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


@pytest.fixture(scope="session")
def probe_runs(request, cluster_factory, drill_config, pg_installation, pgdrill_run, runbook) -> Iterator[ProbeRuns]:
    """The probes of this session. Run by one process, every probe it will run starts at once, side by side (each
    test then takes its own result); in a pytest-xdist worker, which runs only the probes it is given, each runs
    when its test comes."""
    cluster_factory.seeded_template(probe_scale(drill_config.seed_scale))  # seeding is not a probe's cost
    cluster_factory.template()
    if drill_config.literal_restore:
        cluster_factory.seeded_template()
    workdir = pgdrill_run.path / "probes"
    workdir.mkdir(mode=0o700)
    runs = ProbeRuns(partial(cluster_factory.new, scale=probe_scale(drill_config.seed_scale)), cluster_factory.discard,
                     workdir, data_vectors(drill_config.seed_scale, pg_installation),
                     cluster_factory.new if drill_config.literal_restore else None)
    if not hasattr(request.config, "workerinput"):
        chosen = {item.callspec.params["probe"].name for item in request.session.items
                  if getattr(item, "originalname", "") == "test_runbook_defect" and hasattr(item, "callspec")}
        runs.start([probe for probe in PROBES if probe.name in chosen and runs_here(runbook, probe)])
    try:
        yield runs
    finally:
        runs.close()
        remove_tree(workdir)


def runs_here(runbook: Runbook | None, probe: Probe) -> bool:
    """Whether the probe runs: always without --runbook; with one, where it writes one of the probe's defects."""
    written = written_in(runbook, probe)
    return written is None or any(written.values())


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_runbook_defect(probe: Probe, probe_runs: ProbeRuns, drill_config, runbook, request):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("runbook defects")
    allure.dynamic.story("the runbook's literal commands on PostgreSQL 16")
    written = written_in(runbook, probe)
    expected = [code for code in probe.proves if written is None or written[code]]
    if runbook is not None and written is not None and not runs_here(runbook, probe):
        pytest.skip(f"not run: {runbook.path.name} writes none of {', '.join(written)} (the step is fixed, or the "
                    "runbook does not have it)")
    with cost.drill(f"runbook-defect probe {probe.name}"):
        found = probe_runs.result(probe)
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
