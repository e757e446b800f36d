"""The pgBackRest example (scripts/examples/pgbackrest), gated as a team would gate it: Debian's pgbackrest 2.45 on
Debian's PostgreSQL 15 (a second installation beside the session's), full and incremental backups in its
repository, WAL archived into it and proved by reading it back, the tool's own verification, physical and PITR
restores proved as every physical recovery is; each sabotaged variant fails with its finding; a server newer
than pgBackRest 2.45 supports is refused in one sentence."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pgdrill.fixtures.factory import ClusterFactory, LocalDriver
from pgdrill.fixtures.installation import Installation, at
from pgdrill.fixtures.runstate import RunDir
from pgdrill.scenarios import scripts_gate
from pgdrill.scenarios.backups.script_set import ScriptSet

pytestmark = [pytest.mark.slow, pytest.mark.gate]
EXAMPLE = Path(__file__).resolve().parent.parent / "scripts" / "examples" / "pgbackrest"
PG15 = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def pg15(pgdrill_run, drill_config) -> Iterator[tuple[Installation, ClusterFactory]]:
    """Debian's PostgreSQL 15, seeded once for this module's clusters (pgBackRest 2.45 stops at 15)."""
    if not (PG15 / "postgres").exists() or shutil.which("pgbackrest") is None:
        if os.environ.get("CI"):
            pytest.fail("pgbackrest or PostgreSQL 15 is missing: .ci/run installs them with "
                        "scripts/examples/pgbackrest/install.sh")
        pytest.skip("not run: pgbackrest and PostgreSQL 15 are not installed here "
                    "(bash scripts/examples/pgbackrest/install.sh)")
    installation = at(PG15)
    home = RunDir(pgdrill_run.run_id, pgdrill_run.path / "pg15")  # the run's, beside the session's clusters
    home.path.mkdir(mode=0o755)
    factory: ClusterFactory = ClusterFactory(LocalDriver(installation, home), drill_config.seed_scale)
    try:
        yield installation, factory
    finally:
        factory.close()


@pytest.fixture
def on_pg15(pg15, drill_context):
    """The drill context with its clusters made from PostgreSQL 15."""
    installation, factory = pg15
    made = []

    def make(name: str = "drill", seeded: bool = True, start: bool = True, scale: float | None = None):
        made.append(factory.new(name, seeded=seeded, start=start, scale=scale))
        return made[-1]
    yield replace(drill_context, make_cluster=make, installation=installation)
    for cluster in made:
        factory.discard(cluster)


def gate(ctx, name: str, kind: str):
    scripts = ScriptSet.from_dir(EXAMPLE / name)
    if kind == "logical":
        return scripts_gate.run_logical(ctx, scripts, 300)
    return scripts_gate.run_physical(ctx, scripts, 300, pitr=kind == "pitr")


@pytest.mark.parametrize("kind", ["physical", "pitr"])
def test_pgbackrest_example_passes(on_pg15, kind):
    result = gate(on_pg15, ".", kind)
    assert result.status == "passed", result.explain()
    facts = result.facts
    assert facts["backup_format"] == "pgbackrest" and facts["backup"].endswith("I"), facts  # the incremental set
    assert facts["archive_proved"] == "read back through the set's restore_command", facts
    checks = {c.name: c for c in result.checks}
    assert checks["backup verified by the set's verify.sh"].status == "passed", checks
    assert "read back through restore_command" in checks["WAL archiving after recovery"].detail, checks
    if kind == "pitr":
        assert facts["pitr_exact"] is True and facts["recovery_stop"].startswith("recovery stopping before"), facts
    else:  # replayed from the repository to where the server said it had archived
        assert facts["redo_end_lsn"] and facts["archive_last_segment"] and facts["replayed_from_archive"] >= 3, facts


def test_pgbackrest_example_is_not_run_for_logical(drill_context):
    result = gate(drill_context, ".", "logical")  # before any server: its kind file says physical
    assert result.status == "not_run" and "its kind file names physical" in result.facts["not_run"], result.explain()


@pytest.mark.parametrize("name, kind, code, words", [
    ("broken-ignores-target", "pitr", "PITR_OVERSHOT", "recovery went past the target"),
    ("broken-paused-archive", "physical", "ARCHIVING_FAILED", "cannot be read back from where archive_command put it"),
])
def test_sabotaged_pgbackrest_example_fails_with_its_finding(on_pg15, name, kind, code, words):
    result = gate(on_pg15, name, kind)
    assert result.status == "failed" and code in {f.code for f in result.findings}, result.explain()
    assert words in result.explain(), result.explain()


def test_a_server_newer_than_pgbackrest_supports_is_refused_in_one_sentence(drill_context, pg_installation):
    if pg_installation.major < 16 or shutil.which("pgbackrest") is None:
        pytest.skip(f"not run: needs the session's PostgreSQL 16+ and pgbackrest (here {pg_installation.version})")
    result = gate(drill_context, ".", "physical")
    assert result.status == "failed" and "SETUP_SCRIPT_FAILED" in {f.code for f in result.findings}, result.explain()
    assert "supports PostgreSQL up to 15, and this server is 16: run the gate with --pg-bindir " \
           "/usr/lib/postgresql/15/bin" in result.explain(), result.explain()
