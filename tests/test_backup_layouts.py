"""Backups in the layouts stock tools write, made in this session by pg_dump and pg_basebackup from a real
seeded server: each is found by its content (never its name), restored and passes; a base backup's tar
is never taken for a dump; a base backup's age is judged against its schedule, the archive's against the RPO."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios import real_backups
from pgdrill.scenarios.backups import basebackup, layouts
from pgdrill.scenarios.backups.wal import parse_lsn
from pgdrill.scenarios.steps import archiving

pytestmark = pytest.mark.slow


@pytest.fixture
def source(make_cluster):
    cluster = make_cluster("layout-source")
    cluster.query("ALTER SYSTEM SET archive_timeout = '60s'")
    cluster.query("SELECT pg_reload_conf()")
    return cluster


def only(directory: Path) -> dict:
    return layouts.find_backups(directory)


def with_globals(cluster, directory: Path) -> None:
    cluster.tool("pg_dumpall", "--globals-only", stdout_path=directory / "roles.sql")  # found by content, any name


def dump_into(cluster, directory: Path, *args: str) -> None:
    directory.mkdir(parents=True)
    with_globals(cluster, directory)
    out = directory / "nightly.backup"
    if "-Fd" in args:
        cluster.tool("pg_dump", *args, "-f", str(directory / "dump_dir"), "-d", DATABASE)
    else:
        cluster.tool("pg_dump", *args, "-d", DATABASE, stdout_path=out)


@pytest.mark.parametrize("args, fmt", [(("-Fc",), "custom"), (("-Fd",), "directory"), (("-Ft",), "tar"),
                                       (("-Fp",), "plain")])
def test_each_dump_format_is_found_and_restores(source, drill_context, args, fmt):
    where = drill_context.workdir / f"dump{args[0]}"
    dump_into(source, where, *args)
    found = only(where)
    assert found["physical"] is None
    assert found["logical"] is not None and found["logical"].format == fmt, found
    assert only(found["logical"].path)["logical"] == found["logical"]  # the dump given as itself (--backup-dir)
    result = real_backups.restore_dump(drill_context, found["logical"])
    assert result.status == "passed", result.explain()
    assert result.facts["tables"]["public.tasks"] > 0 and "audit.task_events" in result.facts["tables"]


@pytest.mark.parametrize("method, suffix", [("gzip", ".gz"), ("zstd", ".zst"), ("lz4", ".lz4")])
def test_plain_dump_piped_through_a_compressor(source, drill_context, method, suffix):
    """`pg_dump | gzip > agentic.sql.gz` (or zstd, lz4) in a cron job: found by content, restored; the same file cut
    in half does not decompress to its end, which is a cut dump (DUMP_TRUNCATED), not a crash."""
    if shutil.which(method) is None:
        pytest.skip(f"not run: no {method} tool on this machine")
    where = drill_context.workdir / f"cron-{method}"
    dump_into(source, where, "-Fp")
    packed = where / f"agentic.sql{suffix}"
    with open(where / "nightly.backup", "rb") as plain, open(packed, "wb") as out:  # `pg_dump | gzip > file`
        subprocess.run([method, "-c"], stdin=plain, stdout=out, check=True)
    (where / "nightly.backup").unlink()
    found = only(where)
    assert found["logical"].format == "plain" + suffix, found
    result = real_backups.restore_dump(drill_context, found["logical"])
    assert result.status == "passed", result.explain()
    packed.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    cut = real_backups.restore_dump(drill_context, only(where)["logical"])
    assert "DUMP_TRUNCATED" in {f.code for f in cut.findings}, cut.explain()


def archive_copy(cluster, where: Path) -> Path:
    archiving.switch_and_wait(cluster)
    archive = where / "wal"
    archive.mkdir(parents=True)
    for name in cluster.archive_listing():
        (archive / name).write_bytes(cluster.read_archive_file(name))
    return archive


@pytest.mark.parametrize("args, fmt", [(("-Fp",), "plain"), (("-Ft",), "tar"), (("-Ft", "--no-manifest"), "tar")])
def test_each_base_backup_layout_is_found_and_recovers(source, drill_context, args, fmt):
    where = drill_context.workdir / ("base" + "".join(args))
    source.tool("pg_basebackup", "-D", str(where / "base"), *args, "--checkpoint=fast")
    archive = archive_copy(source, where)
    found = only(where)
    assert found["logical"] is None, "a base backup's tar is not a dump"
    assert found["physical"] is not None and found["physical"].format == fmt, found
    assert only(where / "base")["physical"] == found["physical"]  # the backup directory given as itself
    result = real_backups.restore_base(drill_context, found["physical"], archive, None)
    assert result.status == "passed", result.explain()
    verified = next(c for c in result.checks if c.name.startswith("base backup verified"))
    if "--no-manifest" in args:
        assert verified.status == "not_run" and "no backup_manifest" in verified.detail
    else:
        assert verified.status == "passed", verified


def test_base_backup_half_an_hour_old_with_a_fresh_archive_is_not_stale(source, drill_context):
    """The runbook's design, a weekly base backup plus a continuous archive: the backup's age is not the RPO."""
    where = drill_context.workdir / "weekly"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    half_an_hour_ago = time.time() - 1800
    os.utime(where / "base", (half_an_hour_ago, half_an_hour_ago))
    result = real_backups.restore_base(drill_context, only(where)["physical"], archive_copy(source, where), None)
    assert result.status == "passed", result.explain()
    assert result.facts["base_backup_age_seconds"] >= 1800 and result.facts["wal_bytes_to_replay"] > 0


def test_overdue_base_backup_and_a_lagging_archive(source, drill_context):
    where = drill_context.workdir / "old"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    archive = archive_copy(source, where)
    ten_days_ago = time.time() - 10 * 86400
    for path in [where / "base", *archive.iterdir()]:
        os.utime(path, (ten_days_ago, ten_days_ago))
    result = real_backups.restore_base(drill_context, only(where)["physical"], archive, None)
    codes = {f.code for f in result.findings}
    assert {"BASE_BACKUP_OVERDUE", "ARCHIVE_LAG"} <= codes, result.explain()
    assert "10.0 days old, past its 7-day schedule" in result.explain()


def test_an_absent_kind_is_not_run_with_its_reason_in_the_summary(source, drill_context):
    from pgdrill.reports.render import verdict
    where = drill_context.workdir / "dumps-only"
    dump_into(source, where, "-Fc")
    assert only(where)["physical"] is None
    missing = real_backups.not_run(drill_context, "physical_restore", 2, "real_physical", f"no physical backup under {where}")
    assert missing.status == "not_run"
    passed = real_backups.restore_dump(drill_context, only(where)["logical"])
    line = verdict({"scenarios": [passed.as_dict(), missing.as_dict()]})
    assert line.startswith("PASSED: all 1 scenarios run") and "NOT RUN: real_physical (no physical backup under" in line


# ----- where recovery went, for real backups -----------------------------------------------------------------------
def backup_with_segments(cluster, where: Path, count: int = 3) -> Path:
    cluster.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    for n in range(count):
        cluster.query("INSERT INTO audit.task_events (task_id, event) VALUES (%s, %s)", (n, "filler"), dbname=DATABASE)
        archiving.switch_and_wait(cluster)
    return archive_copy(cluster, where)


def middle(archive: Path, backup_start: str) -> str:
    names = sorted(p.name for p in archive.iterdir() if len(p.name) == 24 and p.name > backup_start)
    return names[len(names) // 2 - 1]


def test_a_segment_from_another_database_system(source, cluster_factory, drill_context):
    """Same file name, another cluster (its own initdb): PostgreSQL would end recovery there and promote."""
    from pgdrill.fixtures.cluster import LocalCluster
    where = drill_context.workdir / "foreign"
    archive = backup_with_segments(source, where)
    driver = cluster_factory.driver
    other = cluster_factory.track(LocalCluster.create(driver.installation, driver.run.path / "other-system", "other",
                                                      driver.run.run_id, cluster_factory.password))
    other.start()
    archiving.switch_and_wait(other)
    theirs = other.read_archive_file(other.archived_segments()[0])
    found = only(where)["physical"]
    victim = middle(archive, basebackup.read_base(found).start_segment)
    (archive / victim).write_bytes(theirs)
    result = real_backups.restore_base(drill_context, found, archive, None)
    assert "WAL_FOREIGN_SEGMENT" in {f.code for f in result.findings}, result.explain()
    assert f"archived WAL segment {victim} belongs to database system" in result.explain()


def test_a_restore_command_that_cannot_read_the_archive_ends_recovery_early(source, drill_context):
    """The server replays the backup's own WAL, says "redo done" and promotes; the drill names the first segment of
    the archive it never replayed (the same proof as Scenario 2's)."""
    where = drill_context.workdir / "unreadable"
    archive = backup_with_segments(source, where)
    drill_context.faults.restored_settings = lambda settings: {
        **settings, "restore_command": settings["restore_command"].replace("%f %p", "%f.gz %p")}
    result = real_backups.restore_base(drill_context, only(where)["physical"], archive, None)
    assert "RECOVERY_ENDED_EARLY" in {f.code for f in result.findings}, result.explain()
    assert "were never replayed, and the server promoted anyway" in result.explain()
    assert result.facts["replayed_from_archive"] == 0


def test_real_backup_recovered_to_a_target(source, drill_context):
    where = drill_context.workdir / "target"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    time.sleep(1)
    target = source.scalar("SELECT clock_timestamp()")
    time.sleep(0.5)
    source.query("INSERT INTO audit.task_events (task_id, event) VALUES (0, %s)", ("after the target",), dbname=DATABASE)
    archive = archive_copy(source, where)
    found = only(where)["physical"]
    ok = real_backups.restore_base(drill_context, found, archive, target.isoformat(" "))
    assert ok.status == "passed", ok.explain()
    assert ok.facts["recovery_stop"].startswith("recovery stopping before commit"), ok.facts
    early = real_backups.restore_base(drill_context, found, archive, "2020-01-01 00:00:00+00:00")
    assert "PITR_TARGET_BEFORE_BACKUP" in {f.code for f in early.findings}, early.explain()
    late = real_backups.restore_base(drill_context, found, archive, "2099-01-01 00:00:00+00:00")
    assert "PITR_TARGET_AFTER_ARCHIVE_END" in {f.code for f in late.findings}, late.explain()
    assert "lies at or after the last commit the archive holds" in late.explain()


COMPRESSING_ARCHIVE_COMMANDS = {  # as teams write them; the archive's files then all carry the suffix
    "gzip": "gzip < %p > {archive}/%f.gz",
    "zstd": "zstd -q -o {archive}/%f.zst %p",
    "lz4": "lz4 -q %p {archive}/%f.lz4",
}


@pytest.mark.parametrize("method", sorted(COMPRESSING_ARCHIVE_COMMANDS))
def test_archive_written_by_a_compressing_archive_command(source, drill_context, method):
    """archive_command = 'gzip < %p > ARCHIVE/%f.gz' (or zstd, lz4), as teams write it: segments, the .backup file
    and all arrive compressed; the drill reads the archive as recovery would (decompressed) and recovers to its end.
    A segment cut short in the archive does not decompress: WAL_UNREADABLE, before the server starts."""
    if shutil.which(method) is None:
        pytest.skip(f"not run: no {method} tool on this machine")
    from pgdrill.fixtures.osuser import give_to_server
    packed = source.home / f"{method}-archive"  # the server's own user writes it, as in production
    packed.mkdir(mode=0o700)
    give_to_server(packed)
    command = COMPRESSING_ARCHIVE_COMMANDS[method].format(archive=packed)
    source.query(f"ALTER SYSTEM SET archive_command = '{command}'")
    source.query("SELECT pg_reload_conf()")

    def switch_into_archive() -> None:
        source.query("INSERT INTO audit.task_events (task_id, event) VALUES (0, 'packed')", dbname=DATABASE)
        segment = source.scalar("SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + 30
        while (archiving.archiver_stats(source)["last_archived_wal"] or "") < segment:  # the tool has finished
            assert time.monotonic() < deadline, f"{segment} never arrived compressed"
            time.sleep(0.1)

    switch_into_archive()  # from here on every segment is archived through the tool
    where = drill_context.workdir / method
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    switch_into_archive()
    switch_into_archive()
    archive = where / "wal"
    shutil.copytree(packed, archive)
    suffix = command.split("%f")[1].split()[0]
    assert all(p.name.endswith(suffix) for p in archive.iterdir()), sorted(p.name for p in archive.iterdir())
    found = only(where)["physical"]
    result = real_backups.restore_base(drill_context, found, archive, None)
    assert result.status == "passed", result.explain()
    assert result.facts["archive_files_decompressed"] >= 3 and result.facts["replayed_from_archive"] >= 2, result.facts

    newest = max(p for p in archive.iterdir() if len(p.name) == 24 + len(suffix))
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    cut = real_backups.restore_base(drill_context, found, archive, None)
    assert "WAL_UNREADABLE" in {f.code for f in cut.findings}, cut.explain()
    assert f"archived file {newest.name} does not" in cut.explain()


def test_base_backup_compressed_with_zstd_and_lz4(source, drill_context):
    """base.tar.zst / base.tar.lz4, as pg_basebackup -Ft -Z zstd|lz4 writes them (a compressed tar; this machine's
    PostgreSQL build lacks both, so pg_basebackup's own -Ft tar is compressed by the stock tools): found by
    content, verified against backup_manifest, extracted and recovered."""
    for method, suffix in (("zstd", ".zst"), ("lz4", ".lz4")):
        if shutil.which(method) is None:
            continue
        where = drill_context.workdir / f"base-{method}"
        source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "--checkpoint=fast")
        for tar in ("base.tar", "pg_wal.tar"):
            to = ["-o"] if method == "zstd" else []  # lz4 takes the output as its second operand
            subprocess.run([method, "-q", "--rm", str(where / "base" / tar), *to, str(where / "base" / (tar + suffix))],
                           check=True)
        found = only(where)
        assert found["logical"] is None and found["physical"].format == "tar" + suffix, found
        result = real_backups.restore_base(drill_context, found["physical"], archive_copy(source, where), None)
        assert result.status == "passed", result.explain()
        assert next(c for c in result.checks if c.name.startswith("base backup verified")).status == "passed"


def test_partial_segment_ends_the_archive(source, drill_context):
    """pg_receivewal keeps the segment it is writing as `X.partial`. Commits that live only there come back: the
    partial stands in for its segment at the archive's end, and the server's redo passes their LSN."""
    where = drill_context.workdir / "receivewal"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    archive = archive_copy(source, where)
    source.query("INSERT INTO audit.task_events (task_id, event) VALUES (0, 'only in the partial')", dbname=DATABASE)
    written = source.scalar("SELECT pg_current_wal_flush_lsn()")
    received = where / "received"
    received.mkdir()
    source.tool("pg_receivewal", "-D", str(received), "--endpos", str(written), "--no-loop", timeout=60)
    partial = [p.name for p in received.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1, sorted(p.name for p in received.iterdir())
    shutil.copyfile(received / partial[0], archive / partial[0])
    result = real_backups.restore_base(drill_context, only(where)["physical"], archive, None)
    assert result.status == "passed", result.explain()
    assert result.facts["partial_segments_used"] == partial, result.facts
    assert parse_lsn(result.facts["redo_end_lsn"]) >= parse_lsn(str(written)), result.facts


def test_archive_that_crossed_a_timeline(source, drill_context):
    """A failover after the base backup: the archive holds timeline 1, 00000002.history and timeline 2. Recovery
    follows the history to the newest timeline; continuity is checked along that path and a gap on timeline 2
    is named with it."""
    from pgdrill.scenarios.backups import basebackup
    where = drill_context.workdir / "timeline"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    for n in range(2):
        source.query("INSERT INTO audit.task_events (task_id, event) VALUES (%s, 'tl1')", (n,), dbname=DATABASE)
        archiving.switch_and_wait(source)
    backup = basebackup.BaseBackup.read(where / "base")  # the failover: a copy recovered and promoted on timeline 2
    source.crash()
    source.wipe_data()
    basebackup.extract(source, backup)
    source.write_data_file("recovery.signal", "")
    source.write_auto_conf({"restore_command": f"cp {source.archive_location}/%f %p"}, append=True)
    basebackup.start_recovery(source, DATABASE, timeout=120)
    for n in range(3):
        source.query("INSERT INTO audit.task_events (task_id, event) VALUES (%s, 'tl2')", (n,), dbname=DATABASE)
        archiving.switch_and_wait(source)
    archive = archive_copy(source, where)
    assert "00000002.history" in {p.name for p in archive.iterdir()}
    found = only(where)["physical"]
    result = real_backups.restore_base(drill_context, found, archive, None)
    assert result.status == "passed", result.explain()
    assert result.facts["timeline_path"] == [1, 2] and result.facts["recovery_timeline"] == 2, result.facts
    assert result.facts["archive_last_segment"].startswith("00000002"), result.facts

    gap = where / "wal-with-gap"
    shutil.copytree(archive, gap)
    on_two = sorted(p.name for p in gap.iterdir() if p.name.startswith("00000002") and len(p.name) == 24)
    (gap / on_two[len(on_two) // 2]).unlink()
    broken = real_backups.restore_base(drill_context, found, gap, None)
    assert "WAL_SEGMENT_MISSING" in {f.code for f in broken.findings}, broken.explain()
    assert f"WAL segment {on_two[len(on_two) // 2]} is missing" in broken.explain()
    assert "on timeline 2 of the path recovery takes: 1 → 2" in broken.explain()


# ----- faults in real artefacts -------------------------------------------------------------------------------------
def test_zeroed_bytes_inside_a_compressed_base_backup(source, drill_context):
    """64 bytes zeroed in the middle of pg_basebackup's base.tar.gz (a bad disk sector, a cut copy)."""
    where = drill_context.workdir / "zeroed"
    source.tool("pg_basebackup", "-D", str(where / "base"), "-Ft", "-z", "--checkpoint=fast")
    with open(where / "base" / "base.tar.gz", "r+b") as handle:
        handle.seek((where / "base" / "base.tar.gz").stat().st_size // 2)
        handle.write(bytes(64))
    result = real_backups.restore_base(drill_context, only(where)["physical"], archive_copy(source, where), None)
    assert "BASEBACKUP_CORRUPT" in {f.code for f in result.findings}, result.explain()


def test_plain_dump_whose_sequences_are_behind(source, drill_context):
    """A dump whose setval() lines put every sequence back to 1 (an edited or half-regenerated dump): the restore
    succeeds, and the next insert into each table would collide."""
    where = drill_context.workdir / "seq"
    dump_into(source, where, "-Fp")
    dump = where / "nightly.backup"
    text, count = re.subn(r"(SELECT pg_catalog\.setval\('[^']+', )\d+", r"\g<1>1", dump.read_text())
    assert count > 0
    dump.write_text(text)
    result = real_backups.restore_dump(drill_context, only(where)["logical"])
    assert "SEQUENCE_BEHIND" in {f.code for f in result.findings}, result.explain()
