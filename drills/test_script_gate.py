"""The regression gate (marker gate): a team's backup and restore scripts, judged like the scenarios.

`--scripts DIR` names a script set (backup.sh, restore.sh, optional archive_command / restore_command);
without it the reference contract's --backup-script / --restore-script are judged. A kind of restore the
set does not do (a dump-only cron job has no physical restore) is "not run", with why.
"""

from __future__ import annotations

import pytest

from drills.test_monthly import label, record
from pgdrill.fixtures.config import ConfigError
from pgdrill.scenarios import scripts_gate
from pgdrill.scenarios.backups.script_set import ScriptSet

pytestmark = pytest.mark.gate


@pytest.fixture
def script_set(drill_config) -> ScriptSet:
    try:
        if drill_config.scripts is not None:
            return ScriptSet.from_dir(drill_config.scripts)
        return ScriptSet.reference(drill_config.backup_script, drill_config.restore_script)
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.parametrize("kind", ["logical", "physical", "pitr"])
def test_scripts_restore_within_targets(kind, script_set, drill_context, drill_config, pg_installation, request):
    label(request, drill_config, pg_installation, f"gate_{kind}", f"Backup script gate ({script_set.name}): {kind}")
    if kind == "logical":
        result = scripts_gate.run_logical(drill_context, script_set, drill_config.script_timeout)
    else:
        result = scripts_gate.run_physical(drill_context, script_set, drill_config.script_timeout, pitr=kind == "pitr")
    record(request, result)
    if result.status == "not_run":
        pytest.skip(f"not run: {result.facts['not_run']}")
    assert result.status == "passed", result.explain()
