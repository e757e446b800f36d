"""The monthly restore test of real backups (--backup-dir, --wal-archive): the newest of each kind, found by
content, restored and verified. A kind that is absent is reported "not run" in the summary, with why."""

from __future__ import annotations

import allure
import pytest

from drills.test_monthly import label, record
from pgdrill.scenarios import real_backups
from pgdrill.scenarios.backups import layouts, repository

pytestmark = pytest.mark.monthly


@pytest.fixture
def found(drill_config):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("real backups")
    if drill_config.backup_dir is None:
        pytest.skip("not run: no --backup-dir given (this test restores backups actually taken)")
    where = drill_config.backup_dir
    if drill_config.pgbackrest_stanza:  # one stanza's sets of a pgBackRest repository
        where = where / "backup" / drill_config.pgbackrest_stanza
        if not where.is_dir():
            pytest.fail(f"--pgbackrest-stanza {drill_config.pgbackrest_stanza}: {drill_config.backup_dir} holds no "
                        f"backup/{drill_config.pgbackrest_stanza}/ (not a pgBackRest repository of that stanza)",
                        pytrace=False)
    return layouts.find_backups(where)


def absent(request, drill_context, drill_config, kind: str, scenario: str, number: int, result_id: str) -> None:
    why = (f"no {kind} backup under {drill_config.backup_dir} (looked for pg_dump custom, directory, tar and plain "
           f"dumps, and pg_basebackup plain or tar backups, by content)")
    record(request, real_backups.not_run(drill_context, scenario, number, result_id, why))
    pytest.skip(f"not run: {why}")


def test_newest_dump_restores(found, drill_context, drill_config, pg_installation, request):
    label(request, drill_config, pg_installation, "real_logical", "Monthly: restore the latest logical backup")
    if found["logical"] is None:
        absent(request, drill_context, drill_config, "logical", "logical_restore", 1, "real_logical")
    result = real_backups.restore_dump(drill_context, found["logical"])
    record(request, result)
    if result.status == "not_run":
        pytest.skip(f"not run: {result.facts['not_run']}")
    assert result.status == "passed", result.explain()


def test_newest_base_backup_recovers(found, drill_context, drill_config, pg_installation, request):
    label(request, drill_config, pg_installation, "real_physical", "Monthly: restore the latest base backup")
    if found["physical"] is None and repository.is_walg_repository(drill_config.backup_dir):
        why = repository.walg_not_run(drill_config.backup_dir)
        record(request, real_backups.not_run(drill_context, "physical_restore", 2, "real_physical", why))
        pytest.skip(f"not run: {why}")
    if found["physical"] is None:
        absent(request, drill_context, drill_config, "physical", "physical_restore", 2, "real_physical")
    result = real_backups.restore_base(drill_context, found["physical"], drill_config.wal_archive,
                                       drill_config.pitr_target or None, drill_config.base_backup_interval,
                                       drill_config.pgbackrest_config)
    record(request, result)
    if result.status == "not_run":
        pytest.skip(f"not run: {result.facts['not_run']}")
    assert result.status == "passed", result.explain()
