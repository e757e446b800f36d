"""The runbook's example values: a date-stamped name (`backup_20260118_120000.dump`, `base_20260118_120000/`) stands
for "the backup you took", a timestamp in a recovery target for "the moment you recover to". Each is replaced by
what the drill made, and every replacement is listed with its line."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

STAMPED = re.compile(r"[\w./~-]*?20\d{6}(?:_\d{4,6})?[\w./~-]*")
STAMP = re.compile(r"20\d{6}(?:_\d{4,6})?")
TARGET = re.compile(r"(recovery_target_time\s*=\s*)'([^']*)'")
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>|\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Substitution:
    line: int
    written: str
    used: str
    why: str


class NothingMatches(LookupError):
    """A date-stamped name that nothing the drill made matches: the step cannot run as meant."""


def substitute(command: str, first_line: int, newest: Callable[[str], str | None],
               target: str | None, given: dict[str, str] | None = None) -> tuple[str, list[Substitution]]:
    """The command with its example values replaced: names by the newest match of their pattern (newest(glob)),
    a recovery target by the drill's (when the scenario has one), a placeholder (`<NAME>`, `{{NAME}}`) by the value
    given with --runbook-set; a placeholder without one cannot run."""
    done: list[Substitution] = []
    lines = command.splitlines()
    for index, line in enumerate(lines):
        for placeholder in list(PLACEHOLDER.finditer(line)):
            name = placeholder.group(1) or placeholder.group(2)
            if name not in (given or {}):
                raise NothingMatches(f"line {first_line + index}: {placeholder.group(0)} is left to the reader: give "
                                     f"it with --runbook-set {name}=VALUE")
            line = line.replace(placeholder.group(0), (given or {})[name])
            done.append(Substitution(first_line + index, placeholder.group(0), (given or {})[name], "--runbook-set"))
        if target is not None:
            match = TARGET.search(line)
            if match and match.group(2) != target:
                line = line[:match.start(2)] + target + line[match.end(2):]
                done.append(Substitution(first_line + index, match.group(2), target,
                                         "the recovery target: the drill's, just before its destructive transaction"))
        for token in sorted(set(STAMPED.findall(line)) - {""}, key=len, reverse=True):
            if "$(" in token or not STAMP.search(token):
                continue
            pattern = STAMP.sub("*", token)
            found = newest(pattern)
            if found is None:
                raise NothingMatches(f"line {first_line + index}: {token!r} stands for a backup the runbook's own "
                                     f"commands write, but nothing here matches {pattern!r}")
            line = line.replace(token, found)
            done.append(Substitution(first_line + index, token, found,
                                     f"the newest {pattern!r} (what the runbook's backup commands wrote)"))
        lines[index] = line
    return "\n".join(lines), done
