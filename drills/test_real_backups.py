"""The monthly restore test of real backups (--backup-dir, --wal-archive): the newest ones, restored and verified."""

from __future__ import annotations

import allure
import pytest

from drills.test_monthly import label, record
from pgdrill.scenarios import real_backups

pytestmark = pytest.mark.monthly


@pytest.fixture
def backup_dir(drill_config):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("real backups")
    if drill_config.backup_dir is None:
        pytest.skip("not run: no --backup-dir given (this test restores backups actually taken)")
    return drill_config.backup_dir


def test_newest_dump_restores(backup_dir, drill_context, drill_config, pg_installation, request):
    dump = real_backups.newest_dump(backup_dir)
    if dump is None:
        pytest.fail(f"no logical dump (.dump, .sql, .tar or a directory dump) under {backup_dir}", pytrace=False)
    label(request, drill_config, pg_installation, "real_logical", "Monthly: restore the latest logical backup")
    result = real_backups.restore_dump(drill_context, dump)
    record(request, result)
    assert result.status == "passed", result.explain()


def test_newest_base_backup_recovers(backup_dir, drill_context, drill_config, pg_installation, request):
    base = real_backups.newest_base(backup_dir)
    if base is None:
        pytest.skip(f"not run: no base backup (base.tar.gz) under {backup_dir}")
    label(request, drill_config, pg_installation, "real_physical", "Monthly: restore the latest base backup")
    result = real_backups.restore_base(drill_context, base, drill_config.wal_archive, drill_config.pitr_target or None)
    record(request, result)
    assert result.status == "passed", result.explain()
