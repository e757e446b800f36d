"""The retention policy drill: a simulated year under the runbook's cleanup commands, and the safe variant."""

from __future__ import annotations

import json

import allure
import pytest

from pgdrill.reports.summary import DEFECT_PROPERTY
from pgdrill.scenarios import retention

pytestmark = pytest.mark.monthly


def test_retention_policy(drill_context, pg_installation, request):
    allure.dynamic.epic("Disaster recovery")
    allure.dynamic.feature("retention")
    defects, facts = retention.prove(drill_context.workdir, pg_installation.tool("pg_archivecleanup"))
    for defect in defects:
        request.node.user_properties.append((DEFECT_PROPERTY, json.dumps(defect.as_dict())))
    allure.attach(json.dumps(facts, indent=2), name="retention drill", attachment_type=allure.attachment_type.JSON)
    safe = facts["wal_by_pg_archivecleanup"]
    assert all(v == "ok" for v in safe.values()), f"pg_archivecleanup left a retained base backup unrecoverable: {safe}"
    assert facts["history_kept_by_pg_archivecleanup"], "pg_archivecleanup deleted a .history file"
    assert [d.code for d in defects] == ["RETENTION_DELETES_WEEKLY_MONTHLY", "WAL_AGE_CLEANUP_BREAKS_BACKUPS"], (
        f"the runbook's retention did not misbehave as recorded: {facts}")
