"""The objects a runbook's commands name: the container PostgreSQL runs in (the one its tools are exec'd in), the
dependent services it stops and starts, and the volumes it removes or mounts. The sandbox makes each exist under
that name for the run."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass

from pgdrill.scenarios.runbook.document import Runbook

POSTGRES_TOOLS = r"(?:psql|pg_\w+|postgres|initdb|bash|sh|tar|touch|rm|ls|cat|chown|chmod|mkdir|cp)\b"
EXEC = re.compile(r"\bdocker\s+(?:container\s+)?exec\s+(?:(?:-\w+|--[\w-]+)(?:[ =](?:'[^']*'|\"[^\"]*\"|[^-\s]\S*))?\s+)*"
                  r"([A-Za-z0-9][\w.-]*)\s+" + POSTGRES_TOOLS)
LIFECYCLE = re.compile(r"\bdocker[ \t]+(?:container[ \t]+)?(?:stop|start|restart|kill|rm)[ \t]+([^;&|<>\n]*)")
VOLUME_RM = re.compile(r"\bdocker[ \t]+volume[ \t]+rm[ \t]+([^;&|<>\n]*)")
DBNAME = re.compile(r"\s(?:-d|--dbname)[ =]([A-Za-z_][\w]*)|\bpg_dump\b[^|>\n]*\s([A-Za-z_]\w*)[ \t]*>")
USER = re.compile(r"\s(?:-U|--username)[ =]([A-Za-z_][\w]*)")
SYSTEM_DATABASES = {"postgres", "template0", "template1"}
CREATED = re.compile(r"\bdocker[ \t]+(?:container[ \t]+)?(?:create|run)\b[^\n]*?--name[ =]([A-Za-z0-9][\w.-]*)")
CD = re.compile(r"(?:^|[;&|][ \t]*)cd[ \t]+([^;&|\n]+)", re.M)
COMPOSE_FILE = re.compile(r"\bdocker-compose\b[^\n]*?\s(?:-f|--file)[ =](\S+)")
VOLUME_MOUNT = re.compile(r"(?:-v|--volume)[ =]([A-Za-z0-9][\w.-]*):/")
ARCHIVED_TO = re.compile(r"(?:^|[\s'\"=>])(/[A-Za-z0-9._/-]*)/%f")  # a plain path: nothing a shell would expand


@dataclass(frozen=True)
class RunbookObjects:
    postgres: str | None  # the container PostgreSQL runs in
    services: tuple[str, ...]  # the other containers it stops and starts
    volumes: tuple[str, ...]
    database: str | None = None  # the database its dumps and restores name
    user: str | None = None  # the role its client tools connect as (-U)
    directories: tuple[str, ...] = ()  # the absolute directories it cd's into (they exist on the runbook's host)
    compose_files: tuple[str, ...] = ()  # the compose files it names after -f


def commands(book: Runbook) -> str:
    """Every command of the scenarios and the backup section, continuation lines joined."""
    text = "\n".join([*(step.command for scenario in book.scenarios for step in scenario.steps),
                      *(step.command for step in book.backups)])
    return re.sub(r"\\\n\s*", " ", text)


def objects_of(book: Runbook) -> RunbookObjects:
    text = commands(book)
    execs = Counter(EXEC.findall(text))
    postgres = execs.most_common(1)[0][0] if execs else None
    created = set(CREATED.findall(text))  # containers its own steps make are not services to stand in for
    named: list[str] = []
    for match in LIFECYCLE.finditer(text):
        for word in match.group(1).split():
            if re.fullmatch(r"[A-Za-z0-9][\w.-]*", word) and not word.isdigit() and word != postgres \
                    and word not in named and word not in created:
                named.append(word)
    volumes: list[str] = []
    for match in VOLUME_RM.finditer(text):
        volumes += [w for w in match.group(1).split() if re.fullmatch(r"[A-Za-z0-9][\w.-]*", w) and w not in volumes]
    volumes += VOLUME_MOUNT.findall(text)
    directories = [words[0] for match in CD.findall(text) if (words := shell_words(match)) and words[0].startswith("/")]
    return RunbookObjects(postgres, tuple(named), tuple(dict.fromkeys(volumes)), most_common(DBNAME, text),
                          most_common(USER, text), tuple(dict.fromkeys(directories)),
                          tuple(dict.fromkeys(COMPOSE_FILE.findall(text))))


def shell_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return []


def most_common(pattern: re.Pattern[str], text: str) -> str | None:
    found = Counter(name for match in pattern.findall(text) for name in ([match] if isinstance(match, str) else match)
                    if name and name not in SYSTEM_DATABASES)
    return found.most_common(1)[0][0] if found else None


def archive_directory(archive_command: str) -> str | None:
    """Where an archive_command puts %f, as the server sees it: the last absolute directory a `.../%f` names (the
    final `mv` of a copy-then-rename); None when it names none (a remote host, a tool with its own repository)."""
    found = ARCHIVED_TO.findall(archive_command)
    return found[-1] if found else None
