"""The regression gate (marker gate): the backup and restore scripts under test, judged like the scenarios."""

from __future__ import annotations

import pytest

from drills.test_monthly import label, record
from pgdrill.scenarios import scripts_gate

pytestmark = pytest.mark.gate


@pytest.mark.parametrize("kind", ["logical", "physical"])
def test_scripts_restore_within_targets(kind, drill_context, drill_config, pg_installation, request):
    for script in (drill_config.backup_script, drill_config.restore_script):
        if not script.is_file():
            pytest.fail(f"--backup-script/--restore-script: {script} does not exist", pytrace=False)
    label(request, drill_config, pg_installation, f"gate_{kind}", f"Backup script gate: {kind}")
    run = scripts_gate.run_logical if kind == "logical" else scripts_gate.run_physical
    result = run(drill_context, drill_config.backup_script.resolve(), drill_config.restore_script.resolve(),
                 drill_config.script_timeout)
    record(request, result)
    assert result.status == "passed", result.explain()
