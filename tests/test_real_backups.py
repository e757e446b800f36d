"""Real backups made by scripts/backup.sh restore and pass; a truncated copy, a plain dump cut mid-table and
a dump without its roles each fail with a named finding."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pgdrill.fixtures.seed import DATABASE
from pgdrill.fixtures.sql import VERIFIER
from pgdrill.scenarios import real_backups
from pgdrill.scenarios.backups import layouts
from pgdrill.scenarios.steps import archiving

pytestmark = pytest.mark.slow
BACKUP = Path(__file__).resolve().parent.parent / "scripts" / "backup.sh"


@pytest.fixture
def taken(make_cluster, drill_context):
    """A backup set written by scripts/backup.sh, and a copy of the source's WAL archive."""
    cluster = make_cluster("source")
    cluster.query("ALTER ROLE postgres PASSWORD 'a-production-secret'")  # production's, not the drill's
    cluster.password = "a-production-secret"
    backups = drill_context.workdir / "backups"
    backups.mkdir()
    env = {**cluster.script_env(), "PGDATABASE": DATABASE, "PGDRILL_BACKUP_DIR": str(backups)}
    set_dir = Path(subprocess.run([str(BACKUP)], env=env, capture_output=True, text=True, check=True).stdout.strip())
    plain = set_dir / "plain.sql"
    cluster.tool("pg_dump", "-Fp", "-d", DATABASE, stdout_path=plain)
    archiving.switch_and_wait(cluster)
    archive = drill_context.workdir / "archive"
    archive.mkdir()
    for name in cluster.archive_listing():  # through the contract: the same on every backend
        (archive / name).write_bytes(cluster.read_archive_file(name))
    return set_dir, archive


def as_found(path: Path) -> layouts.Found:
    """A dump file or directory as the content detection finds it."""
    kind = layouts.classify_dir(path) if path.is_dir() else ("logical", layouts.classify_file(path))
    fmt = kind[1] if kind else None
    assert fmt, f"{path} is not recognised as a dump"
    return layouts.Found("logical", fmt, path, path.stat().st_mtime)


def codes(result) -> list[str]:
    return [f.code for f in result.findings if f.severity == "error"]


@pytest.mark.both_backends
def test_backups_from_backup_sh_restore_and_pass(taken, drill_context):
    set_dir, archive = taken
    (set_dir / "plain.sql").unlink()
    found = layouts.find_backups(set_dir.parent)
    assert found["logical"].path.name == f"{DATABASE}.dump" and found["logical"].format == "custom"
    logical = real_backups.restore_dump(drill_context, found["logical"])
    assert logical.status == "passed", logical.explain()
    assert any(c.name.startswith("row counts and content hashes") and c.ok for c in logical.checks)
    given = layouts.find_backups(set_dir / "base")  # the -Ft -z directory given as itself, as --backup-dir may
    assert given["logical"] is None and given["physical"] == layouts.Found("physical", "tar.gz", set_dir / "base",
                                                                           (set_dir / "base").stat().st_mtime)
    assert layouts.find_backups(found["logical"].path)["logical"] == found["logical"]  # a dump file as itself
    physical = real_backups.restore_base(drill_context, given["physical"], archive, None)
    assert physical.status == "passed", physical.explain()
    assert physical.facts["recovery_settings_left"] == [], physical.facts  # reset after promotion, as Scenario 2
    for result in (logical, physical):  # production's roles (and their hashes) never meet a network login
        isolated = next(c for c in result.checks if c.name == "no production login reaches the copy over the network")
        assert isolated.ok and ("no TCP" if drill_context.backend == "local" else VERIFIER) in isolated.detail, isolated


def test_truncated_copy(taken, drill_context):
    set_dir, _ = taken
    copy = drill_context.workdir / "copy" / f"{DATABASE}.dump"
    copy.parent.mkdir()
    data = (set_dir / f"{DATABASE}.dump").read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    result = real_backups.restore_dump(drill_context, as_found(copy))
    assert "DUMP_TRUNCATED" in codes(result), result.explain()
    assert "cannot be read to the end" in result.explain()


def test_plain_dump_cut_mid_table(taken, drill_context):
    set_dir, _ = taken
    text = (set_dir / "plain.sql").read_text()
    cut = drill_context.workdir / "cut" / "plain.sql"
    cut.parent.mkdir()
    cut.write_text(text[: text.index("COPY public.tasks") + 200_000])  # inside the tasks data
    scratch = drill_context.make_cluster("psql-takes-it", seeded=False)
    scratch.query("CREATE DATABASE scratch")
    assert scratch.tool("psql", "-X", "-q", "-d", "scratch", stdin_path=cut, check=False).returncode == 0
    result = real_backups.restore_dump(drill_context, as_found(cut))
    assert "DUMP_TRUNCATED" in codes(result), result.explain()
    assert "without pg_dump's completion trailer" in result.explain()


def test_dump_whose_roles_are_missing(taken, drill_context):
    set_dir, _ = taken
    alone = drill_context.workdir / "alone" / f"{DATABASE}.dump"
    alone.parent.mkdir()
    shutil.copy(set_dir / f"{DATABASE}.dump", alone)  # no globals.sql beside it
    result = real_backups.restore_dump(drill_context, as_found(alone))
    assert "ROLES_MISSING" in codes(result), result.explain()
    assert "platform_app" in result.explain()
    assert "RESTORE_ERRORS" in codes(result), "pg_restore exited non-zero: that is reported as well"


def dump_of(cluster, workdir: Path, name: str, *args: str, dbname: str = DATABASE) -> Path:
    """A pg_dump -Fc of the source, alone in a directory of its own (as a cron job leaves it)."""
    path = workdir / name / f"{dbname}.dump"
    path.parent.mkdir()
    cluster.tool("pg_dump", "-Fc", *args, "-d", dbname, stdout_path=path)
    return path


@pytest.fixture
def source(make_cluster):
    return make_cluster("real-source")


def test_dump_older_than_the_rpo(source, drill_context):
    dump = dump_of(source, drill_context.workdir, "old")
    two_days_ago = time.time() - 2 * 86400
    os.utime(dump, (two_days_ago, two_days_ago))
    result = real_backups.restore_dump(drill_context, as_found(dump))
    assert "BACKUP_STALE" in codes(result), result.explain()
    assert "48.0 h old, older than the RPO target 24.0 h" in result.explain()


def test_dump_of_an_empty_database(source, drill_context):
    source.query("CREATE DATABASE nothing_here")
    result = real_backups.restore_dump(drill_context, as_found(dump_of(source, drill_context.workdir, "empty",
                                                               dbname="nothing_here")))
    assert "EMPTY_RESTORE" in codes(result), result.explain()


def test_schema_selective_dump_without_its_extension(source, drill_context):
    """pg_dump -n public leaves CREATE EXTENSION out: the restore needs the vector type nobody creates."""
    result = real_backups.restore_dump(drill_context, as_found(dump_of(source, drill_context.workdir, "no-ext", "-n", "public")))
    assert "EXTENSION_MISSING" in codes(result), result.explain()


def test_dump_with_an_unpopulated_materialized_view(source, drill_context):
    source.query("CREATE MATERIALIZED VIEW agent_names AS SELECT name FROM agents WITH NO DATA", dbname=DATABASE)
    result = real_backups.restore_dump(drill_context, as_found(dump_of(source, drill_context.workdir, "matview")))
    assert "MATVIEW_UNPOPULATED" in codes(result), result.explain()
    assert "agent_names" in result.explain()


def test_source_changed_during_the_test(source, drill_context):
    dump = dump_of(source, drill_context.workdir, "touched")
    drill_context.faults.after_restore = lambda path: os.utime(path, (time.time(), time.time() + 60))
    result = real_backups.restore_dump(drill_context, as_found(dump))
    assert "SOURCE_MODIFIED" in codes(result), result.explain()


def test_restored_server_pointed_at_the_source_archive(taken, drill_context):
    set_dir, archive = taken
    drill_context.faults.restored_settings = lambda settings: {
        **settings, "archive_command": f"test ! -f {archive}/%f && cp %p {archive}/%f"}
    result = real_backups.restore_base(drill_context, layouts.find_backups(set_dir.parent)["physical"], archive, None)
    assert "SOURCE_ARCHIVE_TARGETED" in codes(result), result.explain()
