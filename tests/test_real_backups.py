"""Real backups made by scripts/backup.sh restore and pass; a truncated copy, a plain dump cut mid-table and
a dump without its roles each fail with a named finding."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios import archiving, real_backups

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


def codes(result) -> list[str]:
    return [f.code for f in result.findings if f.severity == "error"]


def test_backups_from_backup_sh_restore_and_pass(taken, drill_context):
    set_dir, archive = taken
    (set_dir / "plain.sql").unlink()
    dump = real_backups.newest_dump(set_dir.parent)
    assert dump.name == f"{DATABASE}.dump"
    logical = real_backups.restore_dump(drill_context, dump)
    assert logical.status == "passed", logical.explain()
    assert any(c.name.startswith("row counts and content hashes") and c.ok for c in logical.checks)
    physical = real_backups.restore_base(drill_context, real_backups.newest_base(set_dir.parent), archive, None)
    assert physical.status == "passed", physical.explain()


def test_truncated_copy(taken, drill_context):
    set_dir, _ = taken
    copy = drill_context.workdir / "copy" / f"{DATABASE}.dump"
    copy.parent.mkdir()
    data = (set_dir / f"{DATABASE}.dump").read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    result = real_backups.restore_dump(drill_context, copy)
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
    result = real_backups.restore_dump(drill_context, cut)
    assert "DUMP_TRUNCATED" in codes(result), result.explain()
    assert "without pg_dump's completion trailer" in result.explain()


def test_dump_whose_roles_are_missing(taken, drill_context):
    set_dir, _ = taken
    alone = drill_context.workdir / "alone" / f"{DATABASE}.dump"
    alone.parent.mkdir()
    shutil.copy(set_dir / f"{DATABASE}.dump", alone)  # no globals.sql beside it
    result = real_backups.restore_dump(drill_context, alone)
    assert "ROLES_MISSING" in codes(result), result.explain()
    assert "platform_app" in result.explain()
