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
from pgdrill.scenarios import real_backups, scripts_gate
from pgdrill.scenarios.backups import layouts
from pgdrill.scenarios.backups.basebackup import format_target
from pgdrill.scenarios.backups.script_set import ScriptSet
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.restore import mark_target

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


def test_monthly_restore_of_a_pgbackrest_repository(on_pg15):
    """--backup-dir naming a pgBackRest repository: its newest set restored by pgBackRest into a private copy and
    recovered to the end of the repository's archive, and (--pitr-target) to a moment after the backup; the same
    repository with one archived segment removed fails, naming the segment."""
    ctx = replace(on_pg15, closers=[])  # the repository outlives the gate run that made it, until this test ends
    try:
        source = ctx.make_cluster("pgbr-source")
        gate_run = scripts_gate.Gate(ctx, ctx.result("physical_restore", 2), ScriptSet.from_dir(EXAMPLE), source,
                                     "physical", 300)
        gate_run.set_up()
        gate_run.use_archive_command()
        taken = gate_run.backup()
        source.query("CREATE TABLE before_target AS SELECT 1 AS kept")
        target = format_target(mark_target(source))
        source.query("CREATE TABLE after_target AS SELECT 1 AS lost")  # the commit a recovery to the target stops at
        for _ in range(3):  # WAL after the backup, archived into the repository: recovery must replay it
            source.query("CHECKPOINT")
            archiving.switch_and_wait(source, read_back=gate_run.read_back)
        repo = taken.path.parents[2]
        damaged = on_pg15.workdir / "damaged-repo"
        shutil.copytree(repo, damaged, symlinks=True)
        stored = sorted((damaged / "archive" / "pgdrill").rglob("0000000*-*"))
        removed = stored[-2]  # an archived segment after the backup, before the archive's end
        removed.unlink()

        found = layouts.find_backups(repo)["physical"]
        assert found is not None and found.format == "pgbackrest" and found.path == taken.path, found
        result = real_backups.restore_base(on_pg15, found, None, None)
        assert result.status == "passed", result.explain()
        facts = result.facts
        assert facts["pgbackrest_stanza"] == "pgdrill" and facts["pgbackrest_refused"] == [], facts
        assert facts["pgbackrest_set"] == taken.path.name, facts  # the newest set, the incremental
        verified = next(c for c in result.checks if c.name == "base backup verified (pgbackrest verify)")
        assert verified.status == "passed", verified
        assert facts["redo_end_lsn"] and facts["replayed_from_archive"] >= 3, facts  # to the archive's end (proved)

        to_target = real_backups.restore_base(on_pg15, found, None, target)  # --pitr-target: the set before it
        assert to_target.status == "passed", to_target.explain()
        assert to_target.facts["recovery_stop"].startswith("recovery stopping before commit"), to_target.facts

        broken = real_backups.restore_base(on_pg15, layouts.find_backups(damaged)["physical"], None, None)
        assert broken.status == "failed" and "WAL_SEGMENT_MISSING" in {f.code for f in broken.findings}, \
            broken.explain()
        assert removed.name[:24] in broken.explain(), broken.explain()
    finally:
        while ctx.closers:
            ctx.closers.pop()()
