"""Where a runbook writes a known defect: for each runbook-defect code, the lines whose text has its shape.

The defect probes (scenarios/defects.py) prove what PostgreSQL 16 does with the defective form; these say whether
the runbook under drill still writes it. A runbook that fixed a step no longer carries the defect, and a probe is
then not run for it ("not in this runbook"), instead of reporting a mistake the document no longer makes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pgdrill.scenarios.runbook.document import Runbook


@dataclass(frozen=True)
class Sighting:
    line: int
    text: str


Signature = Callable[[Runbook], list[Sighting]]


def lines_matching(book: Runbook, pattern: str, unless: str | None = None, flags: int = 0,
                   within: Callable[[list[str]], bool] | None = None) -> list[Sighting]:
    """Lines of code blocks that match pattern (and not unless), optionally only under headings `within` accepts."""
    found = []
    for number, line in enumerate(book.lines, start=1):
        if number in book.code_lines and not line.strip().startswith(("#", "--")) and re.search(pattern, line, flags) and not (unless and re.search(unless, line, flags)):
            if within is None or within(book.section_at(number)):
                found.append(Sighting(number, line.strip()))
    return found


def anywhere(book: Runbook, pattern: str, flags: int = 0) -> bool:
    """Whether any command of the runbook matches (a corrected form written somewhere)."""
    return any(re.search(pattern, line, flags) for number, line in enumerate(book.lines, start=1)
               if number in book.code_lines)


def in_scenario(titles: list[str]) -> bool:
    return any(title.lower().startswith("scenario") for title in titles)


def archiving_line(book: Runbook) -> list[Sighting]:
    line = book.archiving_line or 0
    return [Sighting(line, ", ".join(f"{k} = {v}" for k, v in book.archiving.items()))] if book.archiving else []


def without_archive_timeout(book: Runbook) -> list[Sighting]:
    timeout = book.archiving.get("archive_timeout", "0").strip("'")
    return archiving_line(book) if not re.fullmatch(r"[1-9]\d*\s*(s|min|h)?", timeout) else []


def archive_command_not_durable(book: Runbook) -> list[Sighting]:
    command = book.archiving.get("archive_command", "")
    return archiving_line(book) if re.search(r"\bcp\b", command) and not re.search(r"sync", command) else []


def wal_tar_ignored(book: Runbook) -> list[Sighting]:
    if anywhere(book, r"pg_wal\.tar"):
        return []
    return lines_matching(book, r"\btar\s+-?\w*x\w*.*base\.tar")


def roles_not_in_dump(book: Runbook) -> list[Sighting]:
    if anywhere(book, r"pg_dumpall\b.*(--globals-only|\s-g\b)"):
        return []
    return lines_matching(book, r"\bpg_dump\b.*\s-F\s*c|\bpg_dump\b.*-Fc")


def exec_on_stopped_container(book: Runbook) -> list[Sighting]:
    """`docker exec NAME` after `docker stop NAME` and before `docker start NAME`, within one scenario's steps."""
    found = []
    for scenario in book.scenarios:
        stopped: set[str] = set()
        for step in scenario.steps:
            for offset, line in enumerate(step.command.splitlines()):
                stop = re.search(r"\bdocker\s+stop\s+([\w.-]+)", line)
                start = re.search(r"\bdocker\s+start\s+([\w.-]+)", line)
                execute = re.search(r"\bdocker\s+exec\s+(?:-\w+\s+)*([\w.-]+)", line)
                if stop:
                    stopped.add(stop.group(1))
                elif start:
                    stopped.discard(start.group(1))
                elif execute and execute.group(1) in stopped:
                    found.append(Sighting(step.first_line + 1 + offset, line.strip()))
    return found


SIGNATURES: dict[str, Signature] = {
    "RECOVERY_CONF_UNSUPPORTED": lambda b: lines_matching(b, r"recovery\.conf\b", within=in_scenario),
    "AUTO_CONF_OVERWRITTEN": lambda b: lines_matching(b, r"cat\s+>\s*\S*postgresql\.auto\.conf"),
    "EXEC_ON_STOPPED_CONTAINER": exec_on_stopped_container,
    "PG_WAL_TAR_IGNORED": wal_tar_ignored,
    "BASEBACKUP_SLOW_CHECKPOINT": lambda b: lines_matching(b, r"\bpg_basebackup\b",
                                                            unless=r"--checkpoint[= ]fast|\s-c\s*fast"),
    "ARCHIVE_COMMAND_NOT_DURABLE": archive_command_not_durable,
    "RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT": without_archive_timeout,
    "NOW_AS_PITR_PROOF": lambda b: lines_matching(b, r"SELECT\s+now\(\)", flags=re.I, within=in_scenario),
    "REPLAY_RESUME_MISDESCRIBED": lambda b: lines_matching(b, r"pg_wal_replay_resume\s*\("),
    "CURRENT_LSN_DURING_RECOVERY": lambda b: lines_matching(b, r"pg_current_wal_lsn\s*\(",
                                                             within=lambda t: "recovery" in " ".join(t).lower()),
    "CHECKLIST_CANNOT_FAIL": lambda b: lines_matching(b, r"pg_class\s+WHERE\s+relname\s*=\s*tablename", flags=re.I),
    "SQLALCHEMY2_STRING_EXECUTE": lambda b: lines_matching(b, r"\.execute\(\s*['\"]"),
    "DROP_DATABASE_IN_USE": lambda b: lines_matching(b, r"DROP\s+DATABASE", unless=r"WITH\s*\(\s*FORCE", flags=re.I),
    "ROLES_NOT_IN_DUMP": roles_not_in_dump,
    "RESTORE_ERRORS_IGNORED": lambda b: lines_matching(b, r"\bpg_restore\b", unless=r"--exit-on-error|\s-e\b"),
    "TABLE_DUMP_MISSES_DEPENDENCIES": lambda b: lines_matching(b, r"\bpg_dump\b.*\s-t\s"),
    "HNSW_RESTORE_MEMORY": lambda b: lines_matching(b, r"\bpg_restore\b", unless=r"maintenance_work_mem"),
}


def sightings(book: Runbook, code: str) -> list[Sighting] | None:
    """Where the runbook writes the defect; None when no signature is known for the code (it cannot be told)."""
    signature = SIGNATURES.get(code)
    return signature(book) if signature else None
