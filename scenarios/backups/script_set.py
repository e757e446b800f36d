"""A team's backup scripts as the gate takes them (the contract is scripts/README.md).

`--scripts DIR` holds backup.sh and restore.sh, and optionally `archive_command` and `restore_command`:
one line each in postgresql.conf syntax, with %p / %f and the PGDRILL_* variables of the contract,
which the gate's server then uses for WAL archiving and recovery instead of the runbook's `cp`. A backup
tool's set may add `setup.sh` (run before archiving is configured: a stanza, a config, a repository),
`verify.sh` (the tool's own verification of the backup taken) and a `kind` file (`physical`, `logical`, or
both) that makes the gate tests of the other kind "not run" with that reason.
`--backup-script` / `--restore-script` name the two scripts of the reference contract, which also
requires its manifest.json. A bad set is refused before any server starts, with what is wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pgdrill.fixtures.config import ConfigError

VARIABLE = re.compile(r"\$\{?(PGDRILL_[A-Z_]+)\}?")
KINDS = frozenset({"logical", "physical"})


@dataclass(frozen=True)
class ScriptSet:
    backup: Path
    restore: Path
    archive_command: str | None = None
    restore_command: str | None = None
    manifest_required: bool = False  # the reference contract's manifest.json; optional for --scripts
    name: str = "reference scripts"
    setup: Path | None = None  # run once per gate test, before the set's archive_command is applied
    verify: Path | None = None  # the tool's own verification of a backup (PGDRILL_BACKUP_PATH)
    kinds: frozenset[str] = KINDS  # the backup kinds the set takes (its `kind` file)

    @classmethod
    def from_dir(cls, directory: Path) -> ScriptSet:
        if not directory.is_dir():
            raise ConfigError(f"--scripts {directory}: not a directory (it must hold backup.sh and restore.sh)")
        scripts = [_executable(directory / name, "--scripts") for name in ("backup.sh", "restore.sh")]
        optional = {name: _executable(directory / name, "--scripts") if (directory / name).exists() else None
                    for name in ("setup.sh", "verify.sh")}
        return cls(scripts[0], scripts[1], _command_line(directory / "archive_command", "%p"),
                   _command_line(directory / "restore_command", "%p", "%f"), name=directory.resolve().name,
                   setup=optional["setup.sh"], verify=optional["verify.sh"], kinds=_kinds(directory / "kind"))

    @classmethod
    def reference(cls, backup: Path, restore: Path) -> ScriptSet:
        return cls(_executable(backup, "--backup-script"), _executable(restore, "--restore-script"),
                   manifest_required=True)

    def expand(self, line: str, env: dict[str, str]) -> str:
        """The PGDRILL_* variables of a command line replaced by their values: the server that runs the command
        does not have the scripts' environment."""
        def value(match: re.Match[str]) -> str:
            if match.group(1) not in env:
                raise ConfigError(f"{self.name}: {match.group(0)} in {line!r} is not a variable the gate provides "
                                  f"({', '.join(sorted(k for k in env if k.startswith('PGDRILL_')))})")
            return env[match.group(1)]
        return VARIABLE.sub(value, line)


def _executable(path: Path, option: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{option}: {path} does not exist")
    if not os.access(path, os.X_OK):
        raise ConfigError(f"{option}: {path} is not executable (chmod +x)")
    return path.resolve()


def _command_line(path: Path, *required: str) -> str | None:
    """One non-comment line holding each required placeholder, or None when the file is absent."""
    if not path.exists():
        return None
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ConfigError(f"{path} must hold exactly one command line (comments aside), not {len(lines)}")
    missing = [token for token in required if token not in lines[0]]
    if missing:
        raise ConfigError(f"{path}: {lines[0]!r} lacks {' and '.join(missing)}: PostgreSQL passes the file through "
                          "them (%p the path, %f the file name)")
    return lines[0]


def _kinds(path: Path) -> frozenset[str]:
    """The kinds a `kind` file names (words, comments aside); both when there is no such file."""
    if not path.exists():
        return KINDS
    words = {word for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
             for word in line.replace(",", " ").split()}
    if not words or words - KINDS:
        raise ConfigError(f"{path}: names {', '.join(sorted(words - KINDS)) or 'nothing'}; it holds `physical`, "
                          "`logical`, or both")
    return frozenset(words)
