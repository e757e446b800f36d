"""Every finding code is registered, every registered code is made to fire by a self-test under tests/,
and the informational codes' conditions are shown here on the judging functions themselves."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from pgdrill.scenarios import rebuild
from pgdrill.scenarios.proofs import loss, replay
from pgdrill.scenarios.verdicts.findings import FINDINGS
from pgdrill.scenarios.verdicts.forecast import forecast
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult
from tests.asserted import asserted_codes

ROOT = Path(__file__).resolve().parent.parent
EMITTING = [r'\.find\(\s*"([A-Z][A-Z0-9_]+)"', r'DrillFailure\(\s*"([A-Z][A-Z0-9_]+)"',
            r'expect\([^;]*?"([A-Z][A-Z0-9_]+)",', r'^\s+"([A-Z][A-Z0-9_]+)",\s*$', r'^\s+"([A-Z][A-Z0-9_]+)", "',
            r'"[a-z ]+": "([A-Z][A-Z0-9_]+)"']


def emitted_codes() -> set[str]:
    """Codes in finding positions of the source, less the runbook defects' (a list of their own)."""
    codes, defects = set(), set()
    for path in [*(ROOT / "scenarios").rglob("*.py"), *(ROOT / "fixtures").glob("*.py")]:
        if path.name == "findings.py":
            continue
        text = path.read_text()
        for pattern in EMITTING:
            codes |= set(re.findall(pattern, text, re.M | re.S))
        defects |= set(re.findall(r'RunbookDefect\(\s*"([A-Z][A-Z0-9_]+)"', text))
    return codes - defects - {"UTC"}


def test_every_code_the_source_emits_is_registered():
    unregistered = emitted_codes() - set(FINDINGS)
    assert not unregistered, f"codes reported but not in scenarios/verdicts/findings.py: {sorted(unregistered)}"


def test_every_registered_code_is_made_to_fire_by_a_self_test():
    """Fired means asserted: a test asserts the code was emitted (tests/asserted.py says what counts)."""
    sources = [p.read_text() for p in sorted((ROOT / "tests").rglob("test_*.py"))]
    unasserted = sorted(set(FINDINGS) - asserted_codes(sources, set(FINDINGS)))
    assert not unasserted, f"finding codes no self-test asserts were emitted: {unasserted}"


def test_only_a_positive_assertion_counts_as_firing():
    source = """
import pytest

def fails_with(result, code, words):
    assert code in codes(result), words

def test_x(result):
    # "IN_A_COMMENT" fired
    setup("IN_A_CALL")
    assert "NEGATED" not in codes(result)
    assert not has(result, "UNDER_NOT")
    assert codes(result) == {"IN_AN_ASSERT"}
    fails_with(result, "THROUGH_A_HELPER", "words")
    fails_with(result, code="BY_KEYWORD", words="w")

@pytest.mark.parametrize("sql, code", [("x", "PARAM_ASSERTED"), pytest.param("y", "PARAM_TOO", id="y")])
def test_table(sql, code):
    fails_with(run(sql), code, "w")

@pytest.mark.parametrize("code", ["PARAM_UNUSED"])
def test_unused(code):
    run(code)
"""
    every = {"IN_A_COMMENT", "IN_A_CALL", "NEGATED", "UNDER_NOT", "IN_AN_ASSERT", "THROUGH_A_HELPER", "BY_KEYWORD",
             "PARAM_ASSERTED", "PARAM_TOO", "PARAM_UNUSED"}
    assert asserted_codes([source], every) == {"IN_AN_ASSERT", "THROUGH_A_HELPER", "BY_KEYWORD", "PARAM_ASSERTED",
                                               "PARAM_TOO"}


def test_an_unregistered_code_cannot_be_reported():
    result = ScenarioResult("x", 1, "local", 1, 1)
    with pytest.raises(ValueError, match="unknown finding code 'NO_SUCH_CODE'"):
        result.find("NO_SUCH_CODE", "typo")
    with pytest.raises(ValueError):
        DrillFailure("NO_SUCH_CODE", "typo")


# ----- conditions of the informational and judging codes, on the judging functions ---------------------
def workload(commit_ts: dict[int, float], lsn: dict[int, str]) -> SimpleNamespace:
    return SimpleNamespace(acked=set(commit_ts), commit_ts=commit_ts, lsn=lsn)


def codes(result: ScenarioResult) -> set[str]:
    return {f.code for f in result.findings}


def test_lost_commits_split_by_whether_their_wal_was_archived():
    result = ScenarioResult("physical_restore", 2, "local", 900, 900)
    marks = workload({1: 1.0, 2: 2.0, 3: 3.0}, {1: "0/1000000", 2: "0/2FFFFFF", 3: "0/3000010"})
    loss.judge_physical_loss(result, marks, present={1}, archived_end_lsn=0x3000000)
    assert codes(result) == {"ARCHIVED_DATA_LOST", "UNARCHIVED_WAL_LOST"}
    assert result.facts["lost_unarchived_expected"] == 1
    healthy = ScenarioResult("physical_restore", 2, "local", 900, 900)
    loss.judge_physical_loss(healthy, marks, present={1, 2}, archived_end_lsn=0x3000000)
    assert codes(healthy) == {"UNARCHIVED_WAL_LOST"}


def test_the_rebuild_reports_what_skipping_the_archive_copy_would_lose():
    result = ScenarioResult("complete_rebuild", 4, "docker", 3600, 900)
    marks = workload({1: 1.0, 2: 2.0, 3: 4.5}, {1: "0/1000000", 2: "0/5000000", 3: "0/6000000"})
    rebuild.loss_without_saved_archive(result, marks, SimpleNamespace(end_lsn=0x2000000))
    assert codes(result) == {"ARCHIVE_NOT_SAVED_LOSS"}
    assert "lose 2 acknowledged transactions (2.5 s" in result.findings[0].message


def test_a_recovery_the_server_gave_no_account_of_is_unconfirmed():
    result = ScenarioResult("physical_restore", 2, "local", 900, 900)
    replay.prove_archive_end_reached(result, "LOG:  database system is ready to accept connections\n",
                                     ["000000010000000000000003"], 1)
    assert codes(result) == {"RECOVERY_UNCONFIRMED"}


def test_pitr_without_markers_after_the_target_is_unproven():
    result = ScenarioResult("pitr", 3, "local", 1800, 300)
    result.facts["recovery_stop"] = "recovery stopping before commit of transaction 900, time ..."
    marks = SimpleNamespace(commit_ts={1: 10.0, 2: 11.0})
    target = SimpleNamespace(timestamp=lambda: 20.0)
    loss.judge_stop_point(result, marks, target, present={1, 2})
    assert codes(result) == {"PITR_UNPROVEN"}
    assert result.facts["pitr_exact"] is False


def test_a_forecast_past_the_target_is_a_breach_and_one_within_is_not():
    measured = [{"scale": 0.1, "bytes": 17e6, "rto_seconds": 2.0}, {"scale": 1, "bytes": 96e6, "rto_seconds": 20.0}]
    breach = forecast("logical_restore", measured, 50e9, "50 GB", 1800)
    assert [f.code for f in breach.findings] == ["FORECAST_RTO_BREACH"], breach
    assert breach.as_dict()["findings"][0]["code"] == "FORECAST_RTO_BREACH"
    small = forecast("logical_restore", measured, 100e6, "100 MB", 1800)
    assert small.verdict == "within target" and small.findings == []


def test_every_runbook_defect_code_is_registered_and_an_unknown_one_refused():
    from pgdrill.scenarios.defects import PROBES
    from pgdrill.scenarios.verdicts.findings import RUNBOOK_DEFECTS
    from pgdrill.scenarios.verdicts.result import RunbookDefect
    source = "\n".join(p.read_text() for p in (ROOT / "scenarios").rglob("*.py") if p.name != "findings.py")
    written = set(re.findall(r'RunbookDefect\(\s*"([A-Z][A-Z0-9_]+)"', source, re.S))
    probed = {code for probe in PROBES for code in (*probe.proves, *probe.size_dependent)}
    assert written | probed <= set(RUNBOOK_DEFECTS), sorted((written | probed) - set(RUNBOOK_DEFECTS))
    with pytest.raises(ValueError, match="unknown runbook-defect code 'NO_SUCH_DEFECT'"):
        RunbookDefect("NO_SUCH_DEFECT", "x", "typo", "fix")
