"""A runbook in Markdown, parsed (markdown-it-py, CommonMark with tables) into what a drill can act on.

What the document says is kept as written, with its lines: a step's command is the text under its numbered
comment, a target the table cell it came from. Nothing is silently dropped: a fenced block, a table row or a
heading the reader cannot place is a `Unclear` with its line and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from pgdrill.scenarios.runbook.durations import parse_target_duration

SHELL = {"bash", "sh", "shell", "console", "zsh", ""}
SCENARIO_HEADING = re.compile(r"^Scenario\s+(\d+)\s*[:.\-\u2013\u2014]\s*(.+)$", re.I)
STEP_COMMENT = re.compile(r"^#\s*(\d+)[.)]\s*(.*\S)\s*$")
SETTING = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*=\s*(.*?)\s*$")
ARCHIVING_KEYS = {"archive_mode", "archive_command", "archive_library", "wal_level", "archive_timeout"}
SCENARIO_IDS = {"logical": "logical_restore", "physical": "physical_restore", "pitr": "pitr",
                "rebuild": "complete_rebuild"}


@dataclass(frozen=True)
class Step:
    """A runbook step: the lines under one comment of a shell block, as written."""

    number: int | None
    title: str
    command: str  # "" when the step holds only comments ("see Scenario 2 steps 2-3")
    first_line: int  # 1-based lines in the file, the comment included
    last_line: int

    @property
    def lines(self) -> str:
        return f"{self.first_line}" if self.first_line == self.last_line else f"{self.first_line}-{self.last_line}"


@dataclass(frozen=True)
class Scenario:
    """A heading that names a scenario, its kind as its commands tell it, and its numbered steps."""

    number: int
    title: str
    line: int
    kind: str | None  # logical, physical, pitr, rebuild; None when nothing tells it
    told_by: str
    steps: tuple[Step, ...]

    @property
    def scenario_id(self) -> str | None:
        return SCENARIO_IDS.get(self.kind or "")


@dataclass(frozen=True)
class TargetRow:
    """One row of an RTO or RPO table: the target as written, in seconds, and the scenario it names."""

    objective: str  # "rto" or "rpo"
    label: str
    written: str
    seconds: float
    scenario_id: str
    line: int


@dataclass(frozen=True)
class Unclear:
    line: int
    text: str
    why: str


@dataclass
class Runbook:
    path: Path
    title: str = ""
    scenarios: list[Scenario] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    archiving: dict[str, str] = field(default_factory=dict)  # the WAL archiving settings as written
    archiving_line: int | None = None
    backups: list[Step] = field(default_factory=list)  # the backup section's commands, one step per comment
    understood: list[tuple[int, str]] = field(default_factory=list)  # (line, what it was read as)
    not_understood: list[Unclear] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the file as written (lines[0] is line 1)
    headings: list[tuple[int, int, str]] = field(default_factory=list)  # (line, level, title)
    code_lines: set[int] = field(default_factory=set)  # the lines inside fenced blocks: where commands are written

    def section_at(self, line: int) -> list[str]:
        """The titles of the headings a line lies under, outermost first."""
        open_: list[tuple[int, str]] = []
        for at, level, title in self.headings:
            if at > line:
                break
            open_ = [h for h in open_ if h[0] < level] + [(level, title)]
        return [title for _, title in open_]

    def target(self, scenario_id: str, objective: str) -> TargetRow | None:
        return next((row for row in self.targets if row.scenario_id == scenario_id and row.objective == objective),
                    None)


def read(path: Path) -> Runbook:
    """Parse a runbook file; a file that is not UTF-8 text is refused with one sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"runbook {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    return parse(text, path)


def parse(text: str, path: Path = Path("runbook.md")) -> Runbook:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    book = Runbook(path, lines=text.splitlines())
    headings: list[tuple[int, str, int]] = []  # the open headings: (level, title, line)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            level, title, line = int(token.tag[1:]), tokens[i + 1].content.strip(), line_of(token)
            headings = [h for h in headings if h[0] < level] + [(level, title, line)]
            book.headings.append((line, level, title))
            if level == 1 and not book.title:
                book.title = title
            match = SCENARIO_HEADING.match(title)
            if match:
                book.scenarios.append(Scenario(int(match.group(1)), match.group(2).strip(), line, None, "", ()))
        elif token.type == "fence":
            place_block(book, headings, token)
        elif token.type == "table_open":
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
            read_table(book, tokens[i:end + 1])
            i = end
        i += 1
    book.scenarios = [with_kind(s) for s in book.scenarios]
    for scenario in book.scenarios:
        if scenario.kind is None:
            book.not_understood.append(Unclear(scenario.line, f"Scenario {scenario.number}: {scenario.title}",
                                               "neither its commands nor its title tell its kind"))
            continue
        for objective in ("rto", "rpo"):
            if scenario.scenario_id and book.target(scenario.scenario_id, objective) is None:
                book.not_understood.append(Unclear(
                    scenario.line, f"Scenario {scenario.number}: {scenario.title}",
                    f"no {objective.upper()} row of the runbook's tables names it: pgdrill's default target is used"))
    return book


def line_of(token: Token) -> int:
    return (token.map or [0, 0])[0] + 1


def place_block(book: Runbook, headings: list[tuple[int, str, int]], token: Token) -> None:
    """A fenced block, read for what the section it lies in makes of it."""
    first_content = line_of(token) + 1  # the line after the opening fence
    book.code_lines.update(range(first_content, first_content + len(token.content.splitlines())))
    language = (token.info or "").strip().split(" ")[0].lower()
    titles = [title for _, title, _ in headings]
    settings = archiving_settings(token.content)
    if settings is not None:
        book.archiving.update(settings)
        book.archiving_line = book.archiving_line or first_content
        book.understood.append((first_content, "the WAL archiving settings (the sandbox server's configuration)"))
        return
    scenario = next((s for s in reversed(book.scenarios) if titles and headings[-1][2] == s.line), None)
    if scenario is not None and language in SHELL:
        steps = split_steps(token.content, first_content, numbered=True)
        book.scenarios[book.scenarios.index(scenario)] = Scenario(
            scenario.number, scenario.title, scenario.line, None, "", scenario.steps + tuple(steps))
        return
    section = next((title for level, title, _ in headings if level == 2), "")
    if is_backup_heading(section) and language in SHELL:
        book.backups.extend(split_steps(token.content, first_content, numbered=False))
        book.understood.append((first_content, f"backup commands ({titles[-1]})"))
        return
    if any("checklist" in t.lower() or "verification" in t.lower() for t in titles):
        book.understood.append((first_content, f"verification ({titles[-1]}): judged by pgdrill's own checklist"))
        return
    where = titles[-1] if titles else "the top of the document"
    book.not_understood.append(Unclear(first_content, first_line_of(token.content),
                                       f"a {language or 'plain'} block under '{where}': not a scenario, backup or "
                                       "archiving block"))


def is_backup_heading(title: str) -> bool:
    lowered = title.lower()
    return "backup" in lowered and not any(word in lowered for word in ("automation", "retention", "restore",
                                                                        "recovery"))


def first_line_of(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:120]


def archiving_settings(content: str) -> dict[str, str] | None:
    """A block of `name = value` lines naming archiving settings, values unquoted; None for any other block."""
    lines = [line for line in content.splitlines() if line.strip() and not line.strip().startswith(("#", "--"))]
    pairs = [SETTING.match(line) for line in lines]
    if not lines or not all(pairs):
        return None
    settings = {m.group(1): unquote(m.group(2)) for m in pairs if m}
    return settings if ARCHIVING_KEYS & set(settings) else None


def unquote(value: str) -> str:
    value = re.sub(r"\s+#.*$", "", value)  # a trailing comment, as postgresql.conf allows
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def split_steps(content: str, first_line: int, *, numbered: bool) -> list[Step]:
    """A shell block cut at its step comments: numbered ones (`# 3. Restore backup`) in a scenario, every comment
    that opens a group in a backup section. Lines before the first step comment form a step of their own."""
    steps: list[Step] = []
    lines = content.splitlines()
    start, title, number = 0, "", None
    for index, line in enumerate(lines + ["# 0. end"]):
        match = STEP_COMMENT.match(line.strip()) if numbered else (
            re.match(r"^#\s*(.*\S)\s*$", line.strip()) if opens_group(lines, index) else None)
        if match is None and index < len(lines):
            continue
        body = lines[start:index]
        if index > start and (title or any(part.strip() for part in body)):
            steps.append(make_step(number, title, body, first_line + start - (1 if title else 0), first_line + index - 1))
        if match is not None and index < len(lines):
            number = int(match.group(1)) if numbered else None
            title = match.group(2) if numbered else match.group(1)
            start = index + 1
    return steps


def opens_group(lines: list[str], index: int) -> bool:
    """A comment opens a step of a backup block when it follows a blank line or the block's start."""
    if index >= len(lines) or not lines[index].strip().startswith("#"):
        return False
    return index == 0 or not lines[index - 1].strip()


def make_step(number: int | None, title: str, body: list[str], first: int, last: int) -> Step:
    while body and not body[-1].strip():
        body, last = body[:-1], last - 1
    command = "\n".join(body).strip("\n")
    has_command = any(line.strip() and not line.strip().startswith("#") for line in body)
    return Step(number, title, command if has_command else "", first, max(first, last))


def read_table(book: Runbook, tokens: list[Token]) -> None:
    """An RTO or RPO table: the column whose header names the objective holds the targets, the first the label."""
    rows: list[tuple[int, list[str]]] = []
    current: list[str] = []
    row_line = 0
    for token in tokens:
        if token.type == "tr_open":
            current, row_line = [], line_of(token)
        elif token.type == "inline":
            current.append(token.content.strip())
        elif token.type == "tr_close":
            rows.append((row_line, current))
    if not rows:
        return
    header = rows[0][1]
    for objective in ("rto", "rpo"):
        column = next((i for i, cell in enumerate(header) if re.search(rf"\b{objective}\b", cell, re.I)), None)
        if column is None or column == 0:
            continue
        for line, cells in rows[1:]:
            read_target_row(book, objective, line, cells, column)


def read_target_row(book: Runbook, objective: str, line: int, cells: list[str], column: int) -> None:
    label, written = cells[0], cells[column] if column < len(cells) else ""
    scenario_id = scenario_of_label(label)
    seconds = parse_target_duration(written)
    if scenario_id is None or seconds is None:
        why = (f"no scenario is named by {label!r}" if scenario_id is None
               else f"{written!r} is not a duration ('30 minutes', '15 min', '< 5 minutes', '24 hours')")
        book.not_understood.append(Unclear(line, f"{label} | {written}", f"{objective.upper()} row: {why}"))
        return
    if book.target(scenario_id, objective) is not None:
        book.not_understood.append(Unclear(line, f"{label} | {written}", f"a second {objective.upper()} row for "
                                                                         f"{scenario_id}: the first one counts"))
        return
    book.targets.append(TargetRow(objective, label, written, seconds, scenario_id, line))


def scenario_of_label(label: str) -> str | None:
    """Which scenario a target row's label names (by the words runbooks use for them)."""
    lowered = label.lower()
    for words, scenario_id in ((("point-in-time", "pitr", "point in time", "continuous"), "pitr"),
                               (("rebuild", "complete system", "full system"), "complete_rebuild"),
                               (("logical", "pg_dump", "dump"), "logical_restore"),
                               (("physical", "basebackup", "base backup", "pg_basebackup"), "physical_restore")):
        if any(word in lowered for word in words):
            return scenario_id
    return None


def with_kind(scenario: Scenario) -> Scenario:
    """The scenario's kind, told first by what its commands do, then by its title."""
    kind, told_by = kind_of(scenario)
    return Scenario(scenario.number, scenario.title, scenario.line, kind, told_by, scenario.steps)


def kind_of(scenario: Scenario) -> tuple[str | None, str]:
    commands = "\n".join(step.command for step in scenario.steps)
    title = scenario.title.lower()
    if re.search(r"\bdocker\s+(?:rm|container\s+rm)\b", commands) and re.search(r"\bvolume\s+rm\b", commands):
        return "rebuild", "its commands remove the container and its volume"
    if re.search(r"\bpg_restore\b|DROP\s+DATABASE", commands, re.I):
        return "logical", "its commands drop the database and pg_restore it"
    targeted = re.search(r"\brecovery_target(?:_time|_lsn|_xid|_name)?\s*=", commands)
    physical = re.search(r"recovery\.signal|base\.tar|pg_basebackup|backup_label", commands)
    if targeted and ("point-in-time" in title or "pitr" in title or "point in time" in title):
        return "pitr", "its commands set a recovery target, and its title names point-in-time recovery"
    if physical and ("physical" in title or "basebackup" in title):
        return "physical", "its commands restore a base backup, and its title names a physical restore"
    if targeted:
        return "pitr", "its commands set a recovery target"
    if physical:
        return "physical", "its commands restore a base backup"
    for words, kind in ((("point-in-time", "pitr"), "pitr"), (("rebuild",), "rebuild"),
                        (("logical", "pg_dump"), "logical"), (("physical", "basebackup"), "physical")):
        if any(word in title for word in words):
            return kind, "its title (its commands tell nothing)"
    return None, ""


def as_dict(book: Runbook, written_defects: dict[str, list[int]]) -> dict:
    """The runbook as read, for summary.json: every scenario's steps with their lines, the targets with the table
    lines they came from, what was understood and what was not, and where each known defect is written."""
    return {
        "path": str(book.path), "title": book.title,
        "scenarios": [{"number": s.number, "title": s.title, "line": s.line, "kind": s.kind, "told_by": s.told_by,
                       "scenario_id": s.scenario_id,
                       "steps": [{"number": step.number, "title": step.title, "lines": step.lines,
                                  "command": step.command, "has_command": bool(step.command)} for step in s.steps]}
                      for s in book.scenarios],
        "targets": [{"objective": row.objective, "scenario": row.scenario_id, "label": row.label,
                     "written": row.written, "seconds": row.seconds, "line": row.line} for row in book.targets],
        "archiving": {"settings": book.archiving, "line": book.archiving_line},
        "backups": [{"title": step.title, "lines": step.lines, "command": step.command} for step in book.backups],
        "understood": [{"line": line, "as": what} for line, what in book.understood],
        "not_understood": [{"line": u.line, "text": u.text, "why": u.why} for u in book.not_understood],
        "defects_written": written_defects,
    }
