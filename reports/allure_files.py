"""Files Allure reads beside the results: environment.properties, categories.json, executor.json.

Written at the end of the run (allure-pytest's --clean-alluredir empties the directory at the start,
so these survive it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CATEGORIES = [
    {"name": "RTO breach", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*RTO_BREACH.*"},
    {"name": "RPO breach", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*RPO_BREACH.*"},
    {"name": "Integrity failure", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(DATA_MISMATCH|CHECKSUM_FAILURE|BASEBACKUP_CORRUPT|WAL_CORRUPT|WAL_SEGMENT_MISSING|"
                     r"DUMP_TRUNCATED|SEQUENCE_BEHIND|FK_ORPHANS|SCHEMA_MISMATCH|ROLES_MISSING|INDEX_INVALID|"
                     r"PGVECTOR_MISMATCH|ARCHIVED_DATA_LOST|PITR_MISSED_COMMITS|PITR_OVERSHOT).*"},
    {"name": "Runbook defect", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*runbook's literal variant.*"},
    {"name": "Could not verify", "matchedStatuses": ["skipped", "broken"], "messageRegex": r"(?s).*not run.*"},
    {"name": "Drill infrastructure", "matchedStatuses": ["broken"]},
]


def environment(data: dict) -> dict[str, str]:
    return {
        "PostgreSQL": str(data.get("postgres_version")), "pgvector": str(data.get("pgvector_version")),
        "backend": str(data.get("backend")), **({"image": data["image"]} if data.get("image") else {}),
        "host": str(data.get("host")), "git.commit": str(data.get("suite_commit")),
        "drill.id": str(data.get("drill_id")), "seed.scale": str(data.get("seed_scale")),
        "targets": str(data.get("targets_file") or "runbook defaults"),
    }


def write(results_dir: Path, data: dict) -> list[Path]:
    """The three files; returns every file of the results directory (for the signed evidence)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    props = "".join(f"{key}={value}\n" for key, value in environment(data).items())
    (results_dir / "environment.properties").write_text(props)
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    ci = os.environ.get("CI") == "true"
    (results_dir / "executor.json").write_text(json.dumps({
        "name": "CI" if ci else f"pgdrill on {data.get('host')}", "type": "ci" if ci else "local",
        "buildName": f"pgdrill {data.get('drill_id')}", "reportName": "pgdrill disaster-recovery drill"}, indent=2))
    return sorted(p for p in results_dir.iterdir() if p.is_file())
