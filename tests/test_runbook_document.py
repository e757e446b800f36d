"""The runbook read as the drill's specification (scenarios/runbook): scenarios and numbered steps with their lines,
the RTO/RPO tables as the targets, the archiving settings, where each known defect is written, and what was not
understood, on the platform team's runbook as written, on edits of it, and on another team's runbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgdrill.fixtures.config import ConfigError
from pgdrill.fixtures.plugin import read_runbook
from pgdrill.reports.render import to_html, to_markdown
from pgdrill.scenarios.runbook.document import as_dict, parse, read
from pgdrill.scenarios.runbook.durations import parse_target_duration
from pgdrill.scenarios.runbook.signatures import SIGNATURES, sightings
from pgdrill.scenarios.verdicts.targets import load_targets

HERE = Path(__file__).resolve().parent
AS_WRITTEN = HERE / "runbooks" / "platform-as-written.md"
LEDGER = HERE / "runbooks" / "ledger.md"


def written(book) -> dict[str, list[int]]:
    return {code: [s.line for s in found] for code in SIGNATURES if (found := sightings(book, code))}


def edited(tmp_path: Path, old: str, new: str) -> Path:
    text = AS_WRITTEN.read_text()
    assert old in text, old
    path = tmp_path / "DR-PROCEDURES.md"
    path.write_text(text.replace(old, new))
    return path


def test_the_platform_runbook_as_read():
    book = read(AS_WRITTEN)
    assert [(s.number, s.kind) for s in book.scenarios] == [(1, "logical"), (2, "physical"), (3, "pitr"),
                                                            (4, "rebuild")]
    assert [len(s.steps) for s in book.scenarios] == [5, 8, 7, 8]
    pitr_step_2 = book.scenarios[2].steps[1]
    assert (pitr_step_2.number, pitr_step_2.lines, pitr_step_2.command) == (2, "151", ""), pitr_step_2
    restore = book.scenarios[0].steps[2]
    assert (restore.title, restore.lines) == ("Restore backup", "93-94")
    assert restore.command.startswith("docker exec -i agentic-postgres pg_restore -U postgres -d agentic_platform")
    assert book.archiving["archive_command"].startswith("test ! -f /var/lib/postgresql/wal_archive/%f && cp %p")
    assert book.archiving_line == 16
    targets = {(row.scenario_id, row.objective): (row.seconds, row.line) for row in book.targets}
    assert targets[("physical_restore", "rto")] == (900, 318) and targets[("pitr", "rpo")] == (300, 328)
    assert ("complete_rebuild", "rpo") not in targets
    unclear = {(u.line, u.why.split(":")[0]) for u in book.not_understood}
    assert (305, "a bash block under 'Backup Retention Policy'") in unclear
    assert any("no RPO row" in u.why and "Complete System Rebuild" in u.text for u in book.not_understood)
    assert [step.title for step in book.backups][:4] == ["Full database backup", "Schema only", "Specific tables",
                                                         "Create base backup"]


def test_every_known_defect_is_found_where_the_runbook_writes_it():
    where = written(read(AS_WRITTEN))
    assert where["RECOVERY_CONF_UNSUPPORTED"] == [126] and where["AUTO_CONF_OVERWRITTEN"] == [154]
    assert where["EXEC_ON_STOPPED_CONTAINER"][0] == 116 and where["PG_WAL_TAR_IGNORED"] == [120]
    assert where["BASEBACKUP_SLOW_CHECKPOINT"] == [64] and where["DROP_DATABASE_IN_USE"] == [90]
    assert where["RESTORE_ERRORS_IGNORED"] == [94] and where["NOW_AS_PITR_PROOF"] == [170]
    assert where["RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT"] == [16] == where["ARCHIVE_COMMAND_NOT_DURABLE"]
    assert set(where) == set(SIGNATURES), sorted(set(SIGNATURES) - set(where))


def test_a_fixed_step_no_longer_carries_its_defect(tmp_path):
    fixed = edited(tmp_path, 'docker exec agentic-postgres bash -c "cat > /var/lib/postgresql/data/recovery.conf <<EOF',
                   'docker exec agentic-postgres bash -c "cat >> /var/lib/postgresql/data/postgresql.auto.conf <<EOF')
    where = written(read(fixed))
    assert "RECOVERY_CONF_UNSUPPORTED" not in where
    assert where["AUTO_CONF_OVERWRITTEN"] == [154]  # Scenario 3's `cat >` is still there


def test_a_changed_target_is_the_target(tmp_path):
    changed = edited(tmp_path, "| Physical Backup Restore | 15 minutes |", "| Physical Backup Restore | 5 minutes |")
    targets = load_targets(runbook=read(changed))
    assert targets["physical_restore"].rto_seconds == 300
    assert targets["physical_restore"].rto_from == "DR-PROCEDURES.md line 318: '5 minutes'"
    assert targets["complete_rebuild"].rpo_from == "targets.toml"  # the tables name no rebuild RPO
    override = tmp_path / "targets.toml"
    override.write_text('[physical_restore]\nrto = "20m"\n')
    assert load_targets(override, read(changed))["physical_restore"].rto_seconds == 1200  # --dr-targets still wins


def test_a_new_mistake_is_found_at_its_line(tmp_path):
    mistaken = edited(tmp_path, "pg_basebackup -U postgres -D /tmp/backup_base -Ft -z -P",
                      "pg_basebackup -U postgres -D /tmp/backup_base -Ft -z -P --checkpoint=fast")
    assert "BASEBACKUP_SLOW_CHECKPOINT" not in written(read(mistaken))
    text = mistaken.read_text().replace('psql -U postgres -c "CREATE DATABASE agentic_platform;"',
                                        'psql -U postgres -c "CREATE DATABASE agentic_platform;"\n'
                                        'docker exec agentic-postgres pg_dump -U postgres -t agents agentic_platform')
    mistaken.write_text(text)
    assert written(read(mistaken))["TABLE_DUMP_MISSES_DEPENDENCIES"] == [55, 92]


def test_another_teams_runbook_is_read_in_its_own_words():
    book = read(LEDGER)
    assert [(s.number, s.scenario_id) for s in book.scenarios] == [(1, "logical_restore"), (2, "physical_restore"),
                                                                   (3, "pitr"), (4, "complete_rebuild")]
    assert [len(s.steps) for s in book.scenarios] == [4, 3, 4, 3]
    targets = load_targets(runbook=book)
    assert (targets["logical_restore"].rto_seconds, targets["physical_restore"].rto_seconds,
            targets["pitr"].rto_seconds, targets["complete_rebuild"].rto_seconds) == (2700, 600, 3600, 7200)
    assert (targets["physical_restore"].rpo_seconds, targets["pitr"].rpo_seconds,
            targets["complete_rebuild"].rpo_seconds) == (300, 60, 300)
    assert written(book) == {"AUTO_CONF_OVERWRITTEN": [85]}  # its one mistake, and nothing else
    assert book.archiving["archive_timeout"] == "30"


@pytest.mark.parametrize("cell, seconds", [("30 minutes", 1800), ("15 min", 900), ("< 5 minutes", 300),
                                           ("24 hours", 86400), ("1 hour", 3600), ("**90 s**", 90),
                                           ("Minutes to hours", None), ("15-45 min", None), ("0 min", None)])
def test_targets_as_runbooks_write_them(cell, seconds):
    assert parse_target_duration(cell) == seconds


def test_what_is_not_understood_is_listed_with_its_line():
    book = parse("# R\n\n## Scenario 7: Something else\n\n```bash\n# 1. Do it\necho hi\n```\n\n"
                 "| Scenario | RTO |\n|---|---|\n| Something else | Minutes to hours |\n| Logical restore | soon |\n")
    reasons = {(u.line, u.why) for u in book.not_understood}
    assert (3, "neither its commands nor its title tell its kind") in reasons
    assert any(line == 12 and "no scenario is named by 'Something else'" in why for line, why in reasons)
    assert any(line == 13 and "'soon' is not a duration" in why for line, why in reasons)


def test_a_runbook_that_is_not_text_stops_the_run_in_one_sentence(tmp_path):
    binary = tmp_path / "runbook.md"
    binary.write_bytes(b"# DR\n\xff\xfe not utf-8\n")
    with pytest.raises(ConfigError, match=r"runbook .*runbook.md is not UTF-8 text"):
        read_runbook(binary)


def test_the_summary_shows_the_runbook_as_read():
    book = read(AS_WRITTEN)
    data = {"drill_id": "x", "scenarios": [], "runbook_defects": [], "runbook": as_dict(book, written(book))}
    text = to_markdown(data, [])
    assert "### Scenario 2: Restore from Physical Backup (pg_basebackup) (line 106; physical" in text
    assert "| 5 | 125-130 | Configure recovery | `docker exec agentic-postgres bash -c \"cat > " in text
    assert "| EXEC_ON_STOPPED_CONTAINER, RECOVERY_CONF_UNSUPPORTED |" in text
    assert "| 2 | 151 | Restore base backup (see Scenario 2 steps 2-3) | `(no command)` |  |" in text
    assert "- not understood, line 305:" in text
    json.dumps(data)  # summary.json can carry it


def test_a_drill_run_with_a_fixed_runbook_does_not_report_the_fixed_defect(tmp_path):
    """End to end through pytest: --runbook reaches the defect drill and summary.json."""
    fixed = edited(tmp_path, 'docker exec agentic-postgres bash -c "cat > /var/lib/postgresql/data/recovery.conf <<EOF',
                   'docker exec agentic-postgres bash -c "cat >> /var/lib/postgresql/data/postgresql.auto.conf <<EOF')
    out = subprocess.run([sys.executable, "-m", "pytest", str(HERE.parent / "drills" / "test_runbook_defects.py"),
                          "-k", "recovery_conf", "-p", "no:xdist", "-q", "-rs", "--runbook", str(fixed),
                          "--dr-report-dir", str(tmp_path / "out")], capture_output=True, text=True,
                         cwd=HERE.parent, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=300)
    assert "1 skipped" in out.stdout, out.stdout + out.stderr
    assert "not run: DR-PROCEDURES.md writes none of RECOVERY_CONF_UNSUPPORTED" in out.stdout, out.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["runbook"]["path"] == str(fixed) and summary["runbook_defects"] == []
    assert "RECOVERY_CONF_UNSUPPORTED" not in summary["runbook"]["defects_written"]


def test_the_corrected_runbook_writes_no_known_defect():
    book = read(HERE.parent / "docs" / "runbook" / "DR-PROCEDURES.md")
    assert written(book) == {}
    assert [(s.number, s.kind) for s in book.scenarios] == [(1, "logical"), (2, "physical"), (3, "pitr"),
                                                            (4, "rebuild")]
    assert all(step.command for s in book.scenarios for step in s.steps)  # every step says what to run
    assert {(row.scenario_id, row.objective) for row in book.targets} >= {("complete_rebuild", "rpo")}
    assert book.archiving["archive_timeout"] == "60"


def test_the_reports_show_each_step_as_run():
    step = {"section": "Scenario 2", "number": 2, "title": "Remove old data directory", "lines": "115-116",
            "command": "docker exec agentic-postgres rm -rf /var/lib/postgresql/data/*", "status": "failed",
            "seconds": 0.1, "exit_status": 1, "output_tail": "Container abc is not running", "why": "exited 1",
            "substitutions": [], "calls": []}
    done = {**step, "number": 1, "lines": "112-113", "status": "passed", "why": "", "command": "docker stop x"}
    data = {"drill_id": "x", "runbook_defects": [], "scenarios": [{
        "id": "runbook_s2", "backend": "docker", "status": "failed", "findings": [], "checks": [],
        "rto_target_seconds": 900, "rto_seconds": None, "rpo_target_seconds": 900, "rpo_seconds": None, "facts": {
            "scenario": "Scenario 2: Restore from Physical Backup", "runbook_steps": [done, step]}}]}
    text = to_markdown(data, [])
    assert "## runbook_s2: Scenario 2: Restore from Physical Backup, as written: failed" in text
    assert "| \u2717 | Scenario 2 | 2 | 115-116 | 0.1 | exited 1 Container abc is not running |" in text
    page = to_html(data, [])
    assert "runbook_s2: Scenario 2: Restore from Physical Backup, as written: failed</h2>" in page
    assert '<tr class="bad"><td>\u2717</td><td>Scenario 2</td><td>2</td><td>115-116</td>' in page


def test_the_objects_a_runbook_names():
    from pgdrill.scenarios.runbook.objects import objects_of
    platform = objects_of(read(AS_WRITTEN))
    assert (platform.postgres, len(platform.services), platform.volumes, platform.database) == (
        "agentic-postgres", 11, ("story-portal-app_postgres_data",), "agentic_platform")
    assert platform.directories == ("/Volumes/Extreme SSD/projects/story-portal-app",)
    assert platform.compose_files == ("platform/docker-compose.app.yml",)
    corrected = objects_of(read(HERE.parent / "docs" / "runbook" / "DR-PROCEDURES.md"))
    assert "restore-helper" not in corrected.services and len(corrected.services) == 11  # its own, not a service
    ledger = objects_of(read(LEDGER))
    assert (ledger.postgres, ledger.services, ledger.volumes, ledger.database, ledger.user) == (
        "ledger-db", ("ledger-api",), ("ledger_pgdata",), "ledger", "ledger")
