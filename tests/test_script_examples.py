"""The example script sets of scripts/examples, gated as a team would gate them: each passes what it does, is
"not run" for what it does not do, and each sabotaged variant fails with its own finding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgdrill.scenarios import scripts_gate
from pgdrill.scenarios.backups.script_set import ScriptSet

pytestmark = [pytest.mark.slow, pytest.mark.gate]
EXAMPLES = Path(__file__).resolve().parent.parent / "scripts" / "examples"


BARMAN = Path("/opt/pgdrill/barman/bin/barman")


def gate(ctx, name: str, kind: str):
    if name.startswith("barman") and not BARMAN.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BARMAN} is missing: .ci/run installs it with scripts/examples/barman/install.sh")
        pytest.skip("not run: Barman is not installed here (bash scripts/examples/barman/install.sh)")
    scripts = ScriptSet.from_dir(EXAMPLES / name)
    if kind == "logical":
        return scripts_gate.run_logical(ctx, scripts, 300)
    return scripts_gate.run_physical(ctx, scripts, 300, pitr=kind == "pitr")


@pytest.mark.both_backends
@pytest.mark.parametrize("name, kind", [("cron-pg_dump", "logical"), ("gzip-archive", "physical"),
                                        ("gzip-archive", "pitr")])
def test_example_passes_what_it_does(drill_context, name, kind):
    passes(gate(drill_context, name, kind), name, kind)


@pytest.mark.parametrize("kind", ["physical", "pitr"])
def test_barman_example_passes(drill_context, kind):
    """Barman from PyPI: streaming WAL through a replication slot, `barman recover` (local backend only)."""
    result = gate(drill_context, "barman", kind)
    passes(result, "barman", kind)
    assert result.facts["backup_format"] == "plain" and "/base/" in result.facts["backup"], result.facts


def passes(result, name: str, kind: str) -> None:
    assert result.status == "passed", result.explain()
    if kind == "pitr":
        assert result.facts["pitr_exact"] is True, result.facts
        assert result.facts["recovery_stop"].startswith("recovery stopping before commit"), result.facts
    if name == "gzip-archive" and kind == "physical":
        assert result.facts["replayed_from_archive"] >= 3 and ".gz" in result.facts["restore_command"], result.facts
        assert result.facts["recovery_settings_left"] == [], result.facts  # reset after promotion, as Scenario 2


@pytest.mark.parametrize("name, kind", [("cron-pg_dump", "physical"), ("gzip-archive", "logical")])
def test_example_is_not_run_for_what_it_does_not_do(drill_context, name, kind):
    result = gate(drill_context, name, kind)
    assert result.status == "not_run", result.explain()
    assert f"takes no {'physical' if kind != 'logical' else 'logical'} backup" in result.facts["not_run"]


@pytest.mark.parametrize("name, kind, code, words", [
    ("cron-pg_dump/broken-no-pipefail", "logical", "BACKUP_EMPTY", "decompresses to nothing"),
    ("gzip-archive/broken-restore-command", "physical", "ARCHIVING_FAILED",
     "cannot be read back from where archive_command put it"),
    ("barman/broken-ignores-target", "pitr", "PITR_OVERSHOT", "recovery went past the target"),
])
def test_sabotaged_example_fails_with_its_finding(drill_context, name, kind, code, words):
    result = gate(drill_context, name, kind)
    assert result.status == "failed" and code in {f.code for f in result.findings}, result.explain()
    assert words in result.explain(), result.explain()
