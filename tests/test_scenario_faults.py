"""Every fault the drills claim to detect, broken on purpose: each fails with its own named finding.

Faults are injected through the cluster contract's verbs only, so they run on every backend.

The healthy direction is the monthly drill itself (drills/test_monthly.py) plus test_healthy_* here.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from datetime import UTC, datetime, timedelta

import pytest

from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios import logical, physical, pitr
from pgdrill.scenarios.backups.basebackup import format_target
from pgdrill.scenarios.backups.wal import SEGMENT_RE
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.backup import ARCHIVED_SEGMENTS_AFTER_BACKUP

pytestmark = pytest.mark.slow


def error_codes(result) -> set[str]:
    return {f.code for f in result.findings if f.severity == "error"}


def assert_fails_with(result, code: str, words: str) -> None:
    assert result.status == "failed", result.explain()
    assert code in error_codes(result), result.explain()
    assert words in result.explain(), result.explain()


# ----- Scenario 1 --------------------------------------------------------------------------------
def test_healthy_logical_restore_passes(drill_context):
    result = logical.run(drill_context)
    assert result.status == "passed", result.explain()
    assert not error_codes(result)
    assert "HNSW_BUILD_SPILLED" not in {f.code for f in result.findings}, result.explain()
    assert result.facts["restore_settings"].startswith("maintenance_work_mem="), result.facts


@pytest.mark.both_backends  # PGOPTIONS through docker exec, the notice read from the container's log
def test_hnsw_build_that_outgrew_the_restore_memory(drill_context):
    drill_context.restore_memory = "1MB"  # the minimum: the knee falls inside the drill's few thousand vectors
    result = logical.run(drill_context)
    spilled = [f for f in result.findings if f.code == "HNSW_BUILD_SPILLED"]
    assert result.status == "passed", result.explain()  # a warning: RTO, not correctness
    assert "HNSW_BUILD_SPILLED" in {f.code for f in result.findings}, result.explain()
    assert "hnsw graph no longer fits into maintenance_work_mem after" in spilled[0].message, spilled
    assert "maintenance_work_mem=1MB" in spilled[0].message, spilled


def test_truncated_dump(drill_context):
    def truncate(dump):
        os.truncate(dump, dump.stat().st_size // 2)
    drill_context.faults.after_dump = truncate
    assert_fails_with(logical.run(drill_context), "DUMP_TRUNCATED", "the dump is truncated or corrupt")


def test_sequence_set_behind_max_id(drill_context):
    drill_context.faults.before_verify = lambda cluster: cluster.query(
        "SELECT setval(pg_get_serial_sequence('tasks', 'id'), 5)", dbname=DATABASE)
    result = logical.run(drill_context)
    assert_fails_with(result, "SEQUENCE_BEHIND", "public.tasks_id_seq is at 5 but max(public.tasks.id) is")


def test_rows_deleted_between_snapshot_and_verification(drill_context):
    drill_context.faults.before_verify = lambda cluster: cluster.query(
        "DELETE FROM tasks WHERE id <= 10", dbname=DATABASE)
    result = logical.run(drill_context)
    assert_fails_with(result, "DATA_MISMATCH", "public.tasks has")


# ----- Scenario 2 --------------------------------------------------------------------------------
def more_segments(count: int):
    """An after_base_backup hook: commit and archive `count` more WAL segments, so the archive has a middle."""
    def hook(backup, cluster):
        for n in range(count):
            cluster.query("INSERT INTO dr_heartbeat (seq) VALUES (%s)", (-1 - n,), dbname=DATABASE)
            archiving.switch_and_wait(cluster)
    return hook


def middle_segment(cluster, backup) -> str:
    segments = [p for p in cluster.archived_segments() if SEGMENT_RE.match(p) and p > backup.start_segment]
    return segments[len(segments) // 2 - 1] if len(segments) > 1 else segments[0]


def test_missing_middle_wal_segment(drill_context):
    drill_context.faults.after_base_backup = more_segments(3)
    removed = []

    def remove(cluster, backup):
        name = middle_segment(cluster, backup)
        cluster.remove_archive_file(name)
        removed.append(name)
    drill_context.faults.after_disaster = remove
    result = physical.run(drill_context)
    assert_fails_with(result, "WAL_SEGMENT_MISSING", f"WAL segment {removed[0]} is missing from the archive")


def test_corrupted_wal_segment(drill_context):
    drill_context.faults.after_base_backup = more_segments(3)
    corrupted = []

    def corrupt(cluster, backup):
        name = middle_segment(cluster, backup)
        cluster.patch_archive_file(name, 200, b"\xa5" * 400)
        corrupted.append(name)
    drill_context.faults.after_disaster = corrupt
    result = physical.run(drill_context)
    assert_fails_with(result, "WAL_CORRUPT", f"archived WAL segment {corrupted[0]} is corrupt")


def test_base_tar_gz_whose_damage_decodes_to_an_end_of_archive(drill_context):
    """Damaged bytes that decompress to zero blocks mid-archive: tar alone stops there and exits 0, its gzip killed
    before the checksum, leaving a data directory without the files after them (global/pg_control comes last).
    Read to the stream's end, the checksum fails and the extraction names the archive."""
    def cut(backup, cluster):
        path = backup.path / "base.tar.gz"
        data = gzip.decompress(path.read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
        middle = members[len(members) // 2].offset
        damaged = bytearray(gzip.compress(data[:middle] + bytes(1024) + data[middle:]))
        damaged[-8] ^= 0xFF  # the gzip trailer's CRC-32: the stream is corrupt, as a bad sector leaves it
        path.write_bytes(bytes(damaged))
    drill_context.faults.after_base_backup = cut
    result = physical.run(drill_context)
    assert_fails_with(result, "BASEBACKUP_CORRUPT", "base.tar.gz is corrupt")
    assert "crc error" in result.explain(), result.explain()


def test_zeroed_bytes_inside_base_tar_gz(drill_context):
    def zero(backup, cluster):
        path = backup.path / "base.tar.gz"
        with open(path, "r+b") as handle:
            handle.seek(path.stat().st_size // 2)
            handle.write(b"\0" * 64)
    drill_context.faults.after_base_backup = zero
    result = physical.run(drill_context)
    assert_fails_with(result, "BASEBACKUP_CORRUPT", "base.tar.gz is corrupt")
    verified = next(c for c in result.checks if c.name.startswith("base backup verified")) if result.checks else None
    assert verified is None or verified.status == "failed"


def test_corrupted_heap_page_in_restored_data_directory(drill_context):
    where = {}

    def locate(backup, cluster):
        where["path"] = cluster.scalar("SELECT pg_relation_filepath('tasks')", dbname=DATABASE)

    def corrupt(cluster):
        cluster.patch_data_file(where["path"], 8192 + 1000, b"\x5a" * 64)  # inside block 1, past the page header
    drill_context.faults.after_base_backup = locate
    drill_context.faults.before_start = corrupt
    result = physical.run(drill_context)
    assert_fails_with(result, "CHECKSUM_FAILURE", f"{where['path']} block 1")


def test_healthy_physical_restore_passes(drill_context):
    drill_context.faults.after_base_backup = more_segments(2)
    result = physical.run(drill_context)
    assert result.status == "passed", result.explain()
    assert result.facts["archived_segments_checked"] >= 3


# ----- Scenario 3 --------------------------------------------------------------------------------
def test_pitr_target_later_than_archive_end(drill_context):
    drill_context.faults.pitr_target = lambda target, backup: target + timedelta(hours=1)
    result = pitr.run(drill_context)
    assert_fails_with(result, "PITR_TARGET_AFTER_ARCHIVE_END", "recovery ended before configured recovery target")


def test_pitr_target_before_base_backup(drill_context):
    drill_context.faults.pitr_target = lambda target, backup: target - timedelta(minutes=10)
    result = pitr.run(drill_context)
    assert_fails_with(result, "PITR_TARGET_BEFORE_BACKUP", "lies before the base backup's consistency point")


# ----- restores that bring every row back but not what owns and guards it --------------------------
@pytest.mark.parametrize("option, code", [("--no-owner", "OWNERSHIP_MISMATCH"),
                                          ("--no-privileges", "PRIVILEGES_MISMATCH")])
def test_restore_without_owners_or_privileges(drill_context, option, code):
    drill_context.faults.restore_options = lambda: [option]
    result = logical.run(drill_context)
    assert_fails_with(result, code, "differ")
    assert "DATA_MISMATCH" not in error_codes(result), "every row came back: only the catalog items can see this"


# ----- Scenario 2 must replay the archive, to its end ------------------------------------------------
def test_broken_restore_command_is_recovery_ended_early(drill_context):
    """restore_command that cannot read the archive (the name a gzip archive would need): PostgreSQL replays
    the backup's own WAL, says "redo done" and promotes; the drill names the segment it never replayed."""
    drill_context.faults.restore_command = lambda cluster: f"cp {cluster.archive_location}/%f.gz %p"
    result = physical.run(drill_context)
    assert_fails_with(result, "RECOVERY_ENDED_EARLY", "were never replayed, and the server promoted anyway")
    assert "ARCHIVED_DATA_LOST" in error_codes(result), result.explain()
    assert result.facts["replayed_from_archive"] == 0


def test_healthy_physical_restore_replays_the_archive_to_its_end(drill_context):
    result = physical.run(drill_context)
    assert result.status == "passed", result.explain()
    facts = result.facts
    assert facts["replayed_from_archive"] >= ARCHIVED_SEGMENTS_AFTER_BACKUP, facts
    assert facts["redo_end_lsn"] and facts["archive_last_segment"] and facts["timeline"] == 2, facts


# ----- RPO judged on its bound, not only on the drill's own loss -------------------------------------
def test_runbook_archive_timeout_zero_is_an_unbounded_rpo(drill_context):
    drill_context.archive_timeout = 0
    result = physical.run(drill_context)
    assert_fails_with(result, "RPO_UNBOUNDED", "archive_timeout = 0")
    assert result.rpo_bound_seconds is None


def test_rpo_bound_over_the_target_fails_although_the_drill_lost_little(drill_context):
    from pgdrill.scenarios.verdicts.targets import Target
    drill_context.targets = {**drill_context.targets, "pitr": Target(1800, 30)}  # RPO target 30 s < archive_timeout
    result = pitr.run(drill_context)
    assert_fails_with(result, "RPO_BREACH", "the configuration allows losing up to 60.")
    assert result.rpo_seconds is not None and result.rpo_seconds < 30


# ----- every other way a recovery can go wrong, each with its finding --------------------------------
def test_restore_that_errors_for_another_reason_than_truncation(drill_context):
    drill_context.faults.restore_options = lambda: ["--role=pgdrill_no_such_role"]
    assert_fails_with(logical.run(drill_context), "RESTORE_FAILED", "pg_restore --exit-on-error stopped with")


def test_globals_dump_that_does_not_restore(drill_context):
    def spoil(dump):
        with open(dump.parent / "globals.sql", "a") as handle:
            handle.write("CREATE ROLE;\n")  # what a hand-edited globals file can hold
    drill_context.faults.after_dump = spoil
    assert_fails_with(logical.run(drill_context), "ROLES_RESTORE_FAILED", "restoring roles from globals.sql failed")


def test_every_marker_lost_makes_the_rpo_a_lower_bound(drill_context):
    drill_context.faults.before_verify = lambda cluster: cluster.query("DELETE FROM dr_heartbeat", dbname=DATABASE)
    result = logical.run(drill_context)
    assert "RPO_LOWER_BOUND" in {f.code for f in result.findings if f.severity == "warning"}, result.explain()
    assert result.lost_acknowledged_transactions == result.facts["acknowledged"]


def test_restored_server_that_cannot_start(drill_context):
    drill_context.faults.before_start = lambda cluster: cluster.write_data_file(
        "postgresql.auto.conf", "shared_buffers = 'plenty'\n", append=True)
    assert_fails_with(physical.run(drill_context), "SERVER_DID_NOT_START", "the restored server did not start")


def test_a_backup_proved_corrupt_stays_on_record_when_recovery_aborts(drill_context):
    """pg_verifybackup rejects the backup before the disaster; the restored server then fails to start, and the
    scenario ends before its checklist: both findings are reported, not only the last."""
    def edit_manifest(backup, cluster):
        with open(backup.path / "backup_manifest", "a") as handle:
            handle.write(" ")  # the manifest's own checksum no longer matches
    drill_context.faults.after_base_backup = edit_manifest
    drill_context.faults.before_start = lambda cluster: cluster.write_data_file(
        "postgresql.auto.conf", "shared_buffers = 'plenty'\n", append=True)
    result = physical.run(drill_context)
    assert_fails_with(result, "SERVER_DID_NOT_START", "the restored server did not start")
    assert_fails_with(result, "BASEBACKUP_CORRUPT", "pg_verifybackup rejects")


def test_recovery_conf_left_in_the_data_directory(drill_context):
    drill_context.faults.before_start = lambda cluster: cluster.write_data_file(
        "recovery.conf", "restore_command = 'cp /nowhere/%f %p'\n")
    assert_fails_with(physical.run(drill_context), "RECOVERY_CONF_UNSUPPORTED", "recovery.conf is not supported")


def test_archived_segment_cut_short(drill_context):
    drill_context.faults.after_base_backup = more_segments(3)

    def cut(cluster, backup):
        name = middle_segment(cluster, backup)
        cluster.write_archive_file(name, cluster.read_archive_file(name)[: 4 * 1024 * 1024])
    drill_context.faults.after_disaster = cut
    assert_fails_with(physical.run(drill_context), "WAL_UNREADABLE", "is not a whole segment of 16777216 bytes")


def test_writer_failing_before_the_disaster(drill_context):
    def block_writes(backup, cluster):
        cluster.query("ALTER TABLE dr_heartbeat ADD CONSTRAINT pgdrill_stop CHECK (seq < 0) NOT VALID",
                      dbname=DATABASE)
    drill_context.faults.after_base_backup = block_writes
    assert_fails_with(physical.run(drill_context), "WORKLOAD_FAILED", "the ack writer failed before the disaster")


def shifted(seconds: float):
    """A pitr_settings hook: the server is sent `seconds` away from the target the drill judges by."""
    def hook(settings):
        target = datetime.strptime(settings["recovery_target_time"], "%Y-%m-%d %H:%M:%S.%f+00")
        moved = (target + timedelta(seconds=seconds)).replace(tzinfo=UTC)
        return {**settings, "recovery_target_time": format_target(moved)}
    return hook


def test_pitr_that_went_past_the_target(drill_context):
    drill_context.faults.pitr_settings = shifted(0.2)  # markers after the target, not yet the destruction
    assert_fails_with(pitr.run(drill_context), "PITR_OVERSHOT", "committed after the target are present")


def test_pitr_that_stopped_short_of_the_target(drill_context):
    drill_context.faults.pitr_settings = shifted(-0.6)
    assert_fails_with(pitr.run(drill_context), "PITR_MISSED_COMMITS", "committed at or before the target are missing")


def test_pitr_whose_stop_the_server_never_confirmed(drill_context):
    drill_context.faults.pitr_settings = lambda settings: {"recovery_target": "immediate",
                                                              "recovery_target_action": "promote"}
    result = pitr.run(drill_context)
    assert_fails_with(result, "PITR_STOP_UNCONFIRMED", "did not log 'recovery stopping before commit")
    assert "PITR_MISSED_COMMITS" in error_codes(result)


def test_base_backup_without_the_wal_it_needs(make_cluster, drill_context):
    """The runbook's extraction (base.tar.gz only) with nothing in the archive to make up for it."""
    from pgdrill.scenarios.backups import basebackup
    from pgdrill.scenarios.verdicts.result import DrillFailure
    cluster = make_cluster("no-backup-wal")
    backup = basebackup.take(cluster, drill_context.workdir / "base")
    cluster.crash()
    cluster.wipe_data()
    basebackup.extract(cluster, backup, with_pg_wal=False)
    cluster.write_data_file("recovery.signal", "")
    cluster.write_auto_conf({"restore_command": "/bin/false"}, append=True)
    with pytest.raises(DrillFailure) as raised:
        basebackup.start_recovery(cluster, DATABASE, timeout=60)
    assert raised.value.code == "BACKUP_WAL_MISSING", str(raised.value)
