"""The cheap daily job (marker overdue): reads the drill history and fails when a scheduled scenario's last pass is
older than its schedule (DRILL_OVERDUE), without running any drill: a monthly drill that silently stopped running
is found the next day, not at the audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgdrill.reports.history import History, overdue

pytestmark = pytest.mark.overdue


def test_no_scheduled_drill_is_overdue(drill_config):
    history = History.open(drill_config.dr_history or drill_config.dr_report_dir.parent / "drill-history")
    late = overdue(history, drill_config.drill_schedule, datetime.now(UTC))
    if late:
        pytest.fail("\n".join(late), pytrace=False)
