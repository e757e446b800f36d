"""Each sabotaged backup/restore script fails the gate with its own sentence; the reference scripts pass.

The healthy direction is drills/test_script_gate.py (the reference scripts) and the first test here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdrill.scenarios import scripts_gate
from pgdrill.scenarios.backups.script_set import ScriptSet

pytestmark = [pytest.mark.slow, pytest.mark.gate]
ROOT = Path(__file__).resolve().parent.parent
SABOTAGED = ROOT / "tests" / "scripts"
BACKUP, RESTORE = ROOT / "scripts" / "backup.sh", ROOT / "scripts" / "restore.sh"


def logical(ctx, backup: Path, restore: Path, timeout: float):
    return scripts_gate.run_logical(ctx, ScriptSet.reference(backup, restore), timeout)


def fails_with(result, code: str, words: str) -> None:
    assert result.status == "failed", result.explain()
    assert code in [f.code for f in result.findings], result.explain()
    assert words in result.explain(), result.explain()


def test_reference_scripts_pass_both_gates(drill_context):
    assert logical(drill_context, BACKUP, RESTORE, 120).status == "passed"


def test_backup_that_writes_nothing(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_writes_nothing.sh", RESTORE, 60)
    fails_with(result, "BACKUP_EMPTY", "the backup script exited 0 but wrote no backup into")


def test_backup_with_a_truncated_dump(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_truncated.sh", RESTORE, 120)
    fails_with(result, "DUMP_TRUNCATED", "agentic_platform.dump (custom archive) cannot be read to the end")


def test_backup_of_the_wrong_database(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_wrong_database.sh", RESTORE, 120)
    fails_with(result, "BACKUP_WRONG_DATABASE", "is a dump of database 'postgres', not 'agentic_platform'")


def test_backup_that_hangs(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_hangs.sh", RESTORE, 3)
    fails_with(result, "BACKUP_SCRIPT_HUNG", "did not finish within 3 s and was killed")


def test_backup_whose_pg_dump_fails_inside_it(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_wrong_port.sh", RESTORE, 60)
    fails_with(result, "BACKUP_SCRIPT_FAILED", "backup.sh: failed at line")


def test_restore_that_skips_wal_replay(drill_context):
    result = scripts_gate.run_physical(drill_context, ScriptSet.reference(BACKUP, SABOTAGED / "restore_skips_replay.sh"),
                                       120)
    fails_with(result, "WAL_REPLAY_SKIPPED", "the restore did not run archive recovery")
    assert "ARCHIVED_DATA_LOST" in [f.code for f in result.findings]


def test_backup_without_its_manifest(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_no_manifest.sh", RESTORE, 120)
    fails_with(result, "BACKUP_NO_MANIFEST", "has no manifest.json")


def test_backup_changed_after_its_manifest(drill_context):
    result = logical(drill_context, SABOTAGED / "backup_changed_after_manifest.sh", RESTORE, 120)
    fails_with(result, "BACKUP_MANIFEST_MISMATCH", "globals.sql has")


def test_restore_that_fails(drill_context):
    result = logical(drill_context, BACKUP, SABOTAGED / "restore_fails.sh", 60)
    fails_with(result, "RESTORE_SCRIPT_FAILED", "exited 3: restore.sh: no backup found")


def test_restore_that_hangs(drill_context):
    result = logical(drill_context, BACKUP, SABOTAGED / "restore_hangs.sh", 10)
    fails_with(result, "RESTORE_SCRIPT_HUNG", "did not finish within 10 s and was killed")


def tool_set(tmp_path: Path, **scripts: str) -> ScriptSet:
    """The cron-pg_dump example with extra scripts of a tool's set (setup.sh, verify.sh) written here."""
    example = ROOT / "scripts" / "examples" / "cron-pg_dump"
    for path in example.iterdir():
        if path.is_file():
            (tmp_path / path.name).symlink_to(path)
    for name, body in scripts.items():
        (tmp_path / f"{name}.sh").write_text("#!/usr/bin/env bash\n" + body)
        (tmp_path / f"{name}.sh").chmod(0o755)
    return ScriptSet.from_dir(tmp_path)


def test_setup_that_fails_keeps_its_whole_stderr_as_evidence(drill_context, tmp_path):
    lines = "".join(f"echo 'setup.sh: pgbackrest stanza-create said line {n} of its complaint' >&2\n" for n in range(40))
    result = scripts_gate.run_logical(drill_context, tool_set(tmp_path, setup=lines + "exit 3\n"), 60)
    fails_with(result, "SETUP_SCRIPT_FAILED", "exited 3: … ")  # the finding's line keeps the end, cut at a word
    evidence = result.evidence["setup script setup.sh: stderr"]
    assert "line 0 of its complaint" in evidence and "line 39 of its complaint" in evidence  # and the evidence all


def test_setup_that_hangs(drill_context, tmp_path):
    result = scripts_gate.run_logical(drill_context, tool_set(tmp_path, setup="sleep 60\n"), 3)
    fails_with(result, "SETUP_SCRIPT_HUNG", "did not finish within 3 s and was killed")


def test_backup_its_own_tool_rejects(drill_context, tmp_path):
    verify = 'echo "verify.sh: checksum mismatch in $(basename "$PGDRILL_BACKUP_PATH")" >&2; exit 1\n'
    result = scripts_gate.run_logical(drill_context, tool_set(tmp_path, verify=verify), 60)
    fails_with(result, "BACKUP_VERIFY_FAILED", "verify.sh rejects the backup")
    assert "checksum mismatch in" in result.explain()
    checked = next(c for c in result.checks if c.name == "backup verified by the set's verify.sh")
    assert checked.status == "failed", checked


def test_a_kind_file_makes_the_other_kind_not_run(drill_context, tmp_path):
    scripts = tool_set(tmp_path)
    (tmp_path / "kind").write_text("# this set dumps\nlogical\n")
    result = scripts_gate.run_physical(drill_context, ScriptSet.from_dir(tmp_path), 60)
    assert result.status == "not_run" and "its kind file names logical" in result.facts["not_run"], result.explain()
    assert scripts.kinds == {"logical", "physical"}  # without the file: both
