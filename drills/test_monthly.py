"""The monthly restore drill: runbook scenarios 1-3, each judged by the checklist, RTO and RPO."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import allure
import pytest

from pgdrill.fixtures.secret import redact, redact_tree
from pgdrill.reports import plots
from pgdrill.reports.summary import SCENARIO_PROPERTY
from pgdrill.scenarios import logical, physical, pitr

SCENARIOS = {
    "logical_restore": (logical, "Scenario 1: Restore from Logical Backup (pg_dump)"),
    "physical_restore": (physical, "Scenario 2: Restore from Physical Backup (pg_basebackup)"),
    "pitr": (pitr, "Scenario 3: Point-in-Time Recovery (PITR)"),
}


def label(request, drill_config, pg_installation, scenario_id: str, story: str) -> None:
    """Allure labels: epic, feature = scenario, story = runbook section, severity, link, parameters."""
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature(scenario_id)
    allure.dynamic.story(story)
    allure.dynamic.severity(allure.severity_level.CRITICAL)
    anchor = "".join(c for c in story.lower().replace(" ", "-") if c.isalnum() or c in "-_")
    allure.dynamic.link(f"{drill_config.runbook_url}#{anchor}", name=f"runbook: {story}")
    for name, value in (("backend", drill_config.pg_backend), ("PostgreSQL", pg_installation.version),
                        ("seed scale", drill_config.seed_scale)):
        allure.dynamic.parameter(name, value)


def human(seconds) -> str:
    return "not measured" if seconds is None else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def record(request, result) -> None:
    """Hand the result to the summary (via user_properties, which pytest-xdist carries), to JUnit XML (the plain
    properties below: GitLab's and GitHub's test tabs show them) and to Allure."""
    request.node.user_properties.append((SCENARIO_PROPERTY, json.dumps(redact_tree(result.as_dict()), default=str)))
    request.node.user_properties += [
        ("verdict", result.status), ("rto_seconds", result.rto_seconds), ("rto_target_seconds", result.rto_target_seconds),
        ("rpo_seconds", result.rpo_seconds), ("rpo_target_seconds", result.rpo_target_seconds),
        ("findings", " ".join(sorted({f.code for f in result.findings})) or "none")]
    allure.dynamic.title(f"{result.id} ({result.backend}): {result.status}, RTO {human(result.rto_seconds)} "
                         f"(target {human(result.rto_target_seconds)}), RPO {human(result.rpo_seconds)} "
                         f"(target {human(result.rpo_target_seconds)})")
    allure.dynamic.description(
        f"Runbook scenario {result.number} run end to end on the {result.backend} backend: disaster injected, "
        f"recovered with the runbook's corrected commands, judged by the recovery verification checklist, RTO "
        f"and RPO. Lost acknowledged transactions: {result.lost_acknowledged_transactions}.")
    findings = redact("\n".join(f"{f.code} ({f.severity}): {f.message}" for f in result.findings) or "none")
    defects = redact("\n".join(f"{d.code}: {d.message}\n  fix: {d.fix}\n  evidence: {d.evidence}"
                                for d in result.runbook_defects))
    allure.attach(findings + ("\n\nrunbook defects proved here:\n" + defects if defects else ""),
                  name="findings", attachment_type=allure.attachment_type.TEXT)
    allure.attach(checks_csv(result), name="recovery verification checklist", attachment_type=allure.attachment_type.CSV)
    allure.attach(rto_rpo_csv(result), name="RTO/RPO measured vs target", attachment_type=allure.attachment_type.CSV)
    for name, text in result.evidence_redacted().items():
        allure.attach(text or "(empty)", name=name, attachment_type=allure.attachment_type.TEXT)
    with tempfile.TemporaryDirectory() as tmp:
        path = plots.timeline(result.as_dict(), Path(tmp) / "timeline.png")
        if path is not None:
            allure.attach.file(str(path), name="timeline of the steps", attachment_type=allure.attachment_type.PNG)


def checks_csv(result) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["check", "status", "detail"])
    writer.writerows([c.name, c.status.replace("_", " "), c.detail] for c in result.checks)
    return out.getvalue()


def rto_rpo_csv(result) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["measure", "measured (s)", "target (s)", "within target"])
    for name, value, target in (("RTO", result.rto_seconds, result.rto_target_seconds),
                                ("RPO", result.rpo_seconds, result.rpo_target_seconds)):
        writer.writerow([name, "not measured" if value is None else value, target,
                         "not measured" if value is None else "yes" if value <= target else "NO"])
    writer.writerow(["lost acknowledged transactions", result.lost_acknowledged_transactions, "(judged by RPO)", "-"])
    return out.getvalue()


class RecoveryClock:
    """pytest-benchmark's timer for the drills: it advances only by each scenario's RTO.

    So what the slowdown gate compares with the baseline is recovery (disaster to first write), not the
    backup, the load, the sleeps or the verification around it. The phases go to extra_info.
    """

    def __init__(self) -> None:
        self.elapsed = 0.0

    def __call__(self) -> float:
        return self.elapsed

    def run(self, module, ctx):
        result = module.run(ctx)
        self.elapsed += result.rto_seconds or 0.0
        return result


RECOVERY_CLOCK = RecoveryClock()


@pytest.mark.monthly
@pytest.mark.benchmark(timer=RECOVERY_CLOCK)
@pytest.mark.parametrize("scenario_id", list(SCENARIOS))
def test_scenario(scenario_id, drill_context, drill_config, pg_installation, cluster_factory, benchmark, request):
    module, story = SCENARIOS[scenario_id]
    label(request, drill_config, pg_installation, scenario_id, story)
    with allure.step("set-up: the seeded template cluster (not part of the drill's timing)"):
        cluster_factory.seeded_template()  # seeding is set-up, not recovery: keep it out of the timing
    result = benchmark.pedantic(RECOVERY_CLOCK.run, args=(module, drill_context), rounds=1, iterations=1)
    benchmark.extra_info.update(rto_seconds=result.rto_seconds, rto_phases=result.phases,
                                rpo_seconds=result.rpo_seconds, rpo_bound_seconds=result.rpo_bound_seconds,
                                lost_acknowledged_transactions=result.lost_acknowledged_transactions,
                                database_bytes=result.facts.get("database_bytes"), status=result.status)
    record(request, result)
    assert result.status == "passed", result.explain()
    assert result.rto_seconds <= result.rto_target_seconds
    assert result.rpo_seconds <= result.rpo_target_seconds
