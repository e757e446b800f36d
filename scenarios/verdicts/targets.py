"""RTO/RPO targets: the runbook's tables as defaults, overridable by a TOML file."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pgdrill.fixtures.config import ConfigError
from pgdrill.scenarios.runbook.document import Runbook

DEFAULTS = Path(__file__).with_name("targets.toml")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEYS = {"rto", "rpo", "dump_interval"}


@dataclass(frozen=True)
class Target:
    rto_seconds: float
    rpo_seconds: float
    dump_interval_seconds: float | None = None  # logical backups: how often a dump is taken (the RPO bound)
    rto_from: str = "targets.toml"  # where each target was read: the defaults, a runbook's table line, --dr-targets
    rpo_from: str = "targets.toml"


def parse_duration(where: str, raw: object) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw > 0:
        return float(raw)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(raw))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{where} must be a positive duration like 90s, 15m or 24h, not {raw!r}.")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"targets file {path} is not UTF-8 text, as TOML must be ({exc.reason} at byte "
                          f"{exc.start}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"targets file {path} is not valid TOML: {exc}.") from None


def load_targets(override: Path | None = None, runbook: Runbook | None = None) -> dict[str, Target]:
    """The defaults, then a runbook's RTO/RPO tables, then the override file's scenarios and keys replacing theirs."""
    raw = _read(DEFAULTS)
    origin = {(name, key): "targets.toml" for name in raw for key in ("rto", "rpo")}
    if runbook is not None:
        for row in runbook.targets:
            raw[row.scenario_id][row.objective] = row.seconds
            origin[(row.scenario_id, row.objective)] = f"{runbook.path.name} line {row.line}: {row.written!r}"
    if override is not None:
        for scenario, values in _read(override).items():
            if scenario not in raw:
                raise ConfigError(f"targets file {override}: unknown scenario {scenario!r} "
                                  f"(known: {', '.join(raw)}).")
            if not isinstance(values, dict) or set(values) - KEYS:
                raise ConfigError(f"targets file {override}: [{scenario}] may set only {', '.join(sorted(KEYS))}.")
            raw[scenario].update(values)
            origin.update({(scenario, key): f"--dr-targets {override}" for key in values if key in ("rto", "rpo")})
    return {name: Target(parse_duration(f"{name}.rto", values["rto"]), parse_duration(f"{name}.rpo", values["rpo"]),
                         parse_duration(f"{name}.dump_interval", values["dump_interval"])
                         if "dump_interval" in values else None, origin[(name, "rto")], origin[(name, "rpo")])
            for name, values in raw.items()}
