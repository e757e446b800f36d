"""summary.json: the one machine-readable answer of a run (schema 1; names stable, fields added freely)."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pgdrill.fixtures import cost
from pgdrill.fixtures.secret import redact_tree

SCENARIO_PROPERTY = "pgdrill_scenario"
DEFECT_PROPERTY = "pgdrill_runbook_defect"
FORECAST_PROPERTY = "pgdrill_forecast"
COST_PROPERTY = "pgdrill_cost"  # a test's drill-cost ledger (fixtures/cost.py): an attribute of its teardown report
SCHEMA = 1


def names_production(data: dict) -> bool:
    """Whether a run's reports name production's objects (its tables, databases, paths): a real backup was tested."""
    return any(str(scenario.get("id", "")).startswith("real_") for scenario in data.get("scenarios", []))


def write_report(path: Path, text: str, private: bool) -> None:
    """A report file: 0600 from its creation when it names production's objects, else readable as usual."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with open(fd, "w") as handle:
        handle.write(text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@dataclass
class DrillSummary:
    """Accumulates a run's scenario results and test outcomes; writes summary.json at the end."""

    data: dict
    report_dir: Path
    written: Path | None = None
    tests: list[dict] = field(default_factory=list)
    costs: dict[str, dict] = field(default_factory=dict)  # nodeid -> its ledger

    @classmethod
    def start(cls, config, installation) -> DrillSummary:
        data = {
            "schema": SCHEMA,
            "drill_id": uuid.uuid4().hex[:12],
            "started_at": _now(),
            "finished_at": None,
            "backend": config.pg_backend,
            "image": config.pg_image if config.pg_backend == "docker" else None,
            "postgres_version": installation.version,
            "pgvector_version": installation.pgvector_version,
            "amcheck_available": installation.has_amcheck,
            "bindir": str(installation.bindir),
            "seed_scale": config.seed_scale,
            "targets_file": str(config.dr_targets) if config.dr_targets else None,
            "host": socket.gethostname(),
            "user": getpass.getuser(),
            "suite_commit": _git_commit(),
            "scenarios": [],
            "runbook_defects": [],
            "forecasts": [],
            "production_size_bytes": config.production_size,
        }
        return cls(data=data, report_dir=config.dr_report_dir)

    def add_scenario(self, result: dict) -> None:
        for defect in result.pop("runbook_defects", []):
            self.add_defect(defect)
        self.data["scenarios"].append(result)

    def add_defect(self, defect: dict) -> None:
        if all((d["code"], d["scenario"]) != (defect["code"], defect["scenario"]) for d in self.data["runbook_defects"]):
            self.data["runbook_defects"].append(defect)

    def record_test(self, nodeid: str, when: str, outcome: str) -> None:
        self.tests.append({"test": nodeid, "phase": when, "outcome": outcome})

    def add_cost(self, nodeid: str, account: dict) -> None:
        self.costs[nodeid] = account
        self.data["drill_cost"] = cost.combine(list(self.costs.values())) | {"tests": {
            test: {"wall_seconds": round(a["wall_seconds"], 1),
                   "postgres_seconds": round(sum(a[cost.POSTGRES].values()), 1)} for test, a in self.costs.items()}}

    def write(self, exitstatus: int) -> Path:
        self.data["finished_at"] = self.data.get("finished_at") or _now()
        self.data["pytest_exit_status"] = exitstatus
        self.data["tests"] = self.tests
        self.data = redact_tree(self.data)
        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / "summary.json"
        tmp = path.with_suffix(".json.tmp")
        write_report(tmp, json.dumps(self.data, indent=2, default=str) + "\n", names_production(self.data))
        os.replace(tmp, path)
        self.written = path
        return path
