"""RTO forecast at --production-size: each scenario measured at three seed scales, extrapolated, judged
(physical ones by two fits: files against size, replay against WAL volume, --production-wal)."""

from __future__ import annotations

import json
from dataclasses import replace

import allure
import pytest

from drills.test_monthly import SCENARIOS
from pgdrill.reports.summary import FORECAST_PROPERTY
from pgdrill.scenarios.steps.faults import Faults
from pgdrill.scenarios.verdicts.forecast import forecast, forecast_physical
from pgdrill.scenarios.verdicts.hnsw import measure_knee

pytestmark = pytest.mark.monthly
SCALE_FACTORS = (1, 3, 10)  # the configured seed scale up to ten times it: three sizes show whether a line holds


@pytest.mark.parametrize("scenario_id", list(SCENARIOS))
def test_rto_forecast(scenario_id, drill_context, drill_config, request):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature(scenario_id)
    allure.dynamic.story("RTO forecast at production size")
    if drill_config.production_size is None:
        pytest.skip("not run: no --production-size given, so there is nothing to forecast")
    module, _ = SCENARIOS[scenario_id]
    measured = []
    for factor in SCALE_FACTORS:
        scale = drill_config.seed_scale * factor
        ctx = replace(drill_context, make_cluster=lambda name, scale=scale, **kw: drill_context.make_cluster(
            name, scale=scale, **kw), workdir=drill_context.workdir / f"scale-{factor}", closers=[], faults=Faults())
        ctx.workdir.mkdir()
        result = module.run(ctx)
        assert result.status == "passed", f"the measurement at scale {scale:g} failed:\n{result.explain()}"
        point = {"scale": scale, "bytes": result.facts["database_bytes"], "rto_seconds": result.rto_seconds}
        if scenario_id != "logical_restore":  # files and replay grow with different things: size and WAL volume
            point.update(wal_bytes=result.facts["wal_replayed_bytes"],
                         restore_files_seconds=result.phases["restore_files"],
                         replay_seconds=result.phases["replay_and_promote"])
        measured.append(point)
    size_text = f"{drill_config.production_size / 1e9:g} GB"
    target = drill_context.targets[scenario_id].rto_seconds
    if scenario_id == "logical_restore":
        knee = measure_knee(drill_context.make_cluster("hnsw-knee"), drill_config.restore_memory)
        answer = forecast(scenario_id, measured, drill_config.production_size, size_text, target, knee)
    else:
        answer = forecast_physical(scenario_id, measured, drill_config.production_size, drill_config.production_wal,
                                   size_text, target)
    request.node.user_properties.append((FORECAST_PROPERTY, json.dumps(answer.as_dict())))
    allure.attach(json.dumps(answer.as_dict(), indent=2), name="forecast (measured points, forecast RTO)",
                  attachment_type=allure.attachment_type.JSON)
    if answer.verdict.startswith("not forecastable"):
        pytest.skip(f"not run: {scenario_id}: {answer.verdict}")
    points = ", ".join(f"{p['bytes'] / 1e6:.0f} MB in {p['rto_seconds']:.1f} s" for p in measured)
    assert not answer.findings and answer.verdict == "within target", (
        f"{' '.join(f.code for f in answer.findings)}: {scenario_id} would take {answer.forecast_rto_seconds / 60:.1f} min at {size_text} "
        f"(forecast from measured {points}; throughput {answer.throughput_bytes_per_second / 1e6:.1f} MB/s), "
        f"above the {answer.rto_target_seconds / 60:.0f} min target")
