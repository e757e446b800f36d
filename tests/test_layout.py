"""scenarios/ is laid out by what it holds: scenario modules on top, shared parts in sub-packages beneath them.
No scenario module imports another (what two scenarios share lives in steps/, proofs/, backups/ or verdicts/), and
no sub-package reaches up into a scenario. Walked from the source, so a new module is held to it on its first day."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("steps", "proofs", "backups", "verdicts", "runbook")


def scenario_modules(scenarios: Path) -> set[str]:
    return {p.stem for p in scenarios.glob("*.py") if p.stem != "__init__"}


def imported_scenarios(path: Path, scenarios: set[str]) -> set[str]:
    """The top-level scenario modules a file imports, in any spelling of the import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["pgdrill", "scenarios"] and len(parts) == 2:
                found |= {alias.name for alias in node.names if alias.name in scenarios}
            elif parts[:2] == ["pgdrill", "scenarios"] and parts[2] in scenarios:
                found.add(parts[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["pgdrill", "scenarios"] and len(parts) > 2 and parts[2] in scenarios:
                    found.add(parts[2])
    return found


def offences(scenarios: Path) -> list[str]:
    """'<module> imports <scenario>' for every import of a scenario module from inside scenarios/."""
    tops = scenario_modules(scenarios)
    found = []
    for path in sorted(scenarios.rglob("*.py")):
        name = str(path.relative_to(scenarios).with_suffix(""))
        for imported in sorted(imported_scenarios(path, tops) - {path.stem}):
            found.append(f"{name} imports {imported}")
    return found


def test_no_scenario_module_imports_another():
    assert offences(ROOT / "scenarios") == []


def test_the_walk_finds_a_scenario_importing_another(tmp_path):
    copy = shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pitr.py").write_text((copy / "pitr.py").read_text() + "\nfrom pgdrill.scenarios import physical\n")
    (copy / "steps" / "recovery.py").write_text(
        (copy / "steps" / "recovery.py").read_text() + "\nimport pgdrill.scenarios.rebuild\n")
    (copy / "logical.py").write_text(
        (copy / "logical.py").read_text() + "\nfrom pgdrill.scenarios.real_backups import restore_dump\n")
    assert offences(copy) == ["logical imports real_backups", "pitr imports physical", "steps/recovery imports rebuild"]


def test_the_tree_is_what_the_layout_says():
    """Every module sits in scenarios/ (a scenario) or in one of its sub-packages, each with a docstring."""
    scenarios = ROOT / "scenarios"
    folders = {p.name for p in scenarios.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(SUBPACKAGES)
    for folder in SUBPACKAGES:
        assert ast.get_docstring(ast.parse((scenarios / folder / "__init__.py").read_text())), folder
