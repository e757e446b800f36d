"""A plain SQL backup read as psql would read it, before psql ever does: backup content is hostile input.

A plain dump (and a pg_dumpall globals file) is a psql script, and psql scripts run more than SQL:
`\\!` runs a shell command, `\\copy ... to program`, `\\o |cmd`, `\\g |cmd` and backquotes in any
meta-command's arguments run one too, `\\i` reads any file of the machine. Whoever can write to the
backup store (or shape a production table's content) could otherwise run commands as the drill's
user. So a backup's SQL is judged by its meta-commands before anything runs: pg_dump writes only
`\\restrict` / `\\unrestrict` (16.10+), `\\connect` (with -C) and the `\\.` ending a COPY's data; any
other is DUMP_SHELL_ESCAPE and the file is not run. What does run goes through psql in restricted
mode (`\\restrict` with a key of this run's), so psql's own lexer refuses any meta-command this
scan might have missed.

The scan is a small lexer of psql's quoting rules (psqlscan.l): comments, '...' and E'...' strings,
"identifiers", $tag$ bodies, and the data lines of COPY ... FROM stdin, outside which a backslash
starts a meta-command that runs to the end of the line. Hand-written: psql's lexer is C inside psql,
and no Python library reads psql scripts (sqlparse knows SQL, not psql's meta-commands).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

PG_DUMP_WRITES = re.compile(r"\\(restrict|unrestrict) [A-Za-z0-9]+\s*$|\\(connect|c)(\s.*)?$")
COPY_FROM_STDIN = re.compile(r"^\s*COPY\s.*\sFROM\s+stdin\b", re.IGNORECASE | re.DOTALL)
RESTRICTED_REFUSAL = "backslash commands are restricted"  # psql's words when it refuses one in restricted mode
GLOBALS_HEADER = "-- PostgreSQL database cluster dump"
GLOBALS_TRAILER = "-- PostgreSQL database cluster dump complete"
# what pg_dumpall --globals-only writes, one statement a line (roles, their settings and memberships, tablespaces)
GLOBALS_STATEMENTS = re.compile(r"(SET|SELECT pg_catalog\.set_config|CREATE ROLE|ALTER ROLE|GRANT|COMMENT ON ROLE|"
                                r"CREATE TABLESPACE|ALTER TABLESPACE|COMMENT ON TABLESPACE|SECURITY LABEL ON ROLE|"
                                r"SECURITY LABEL ON TABLESPACE)\b")


@dataclass(frozen=True)
class MetaCommand:
    """One psql meta-command of a script: its line (1-based) and its text up to the end of that line."""

    line: int
    text: str

    @property
    def pg_dump_writes_it(self) -> bool:
        return bool(PG_DUMP_WRITES.fullmatch(self.text.strip()))


def meta_commands(script: str) -> list[MetaCommand]:
    """Every meta-command psql would run in script (outside quotes, comments and COPY data)."""
    found: list[MetaCommand] = []
    i, n, line = 0, len(script), 1
    statement_start = 0
    depth = 0  # parentheses: psql ends a statement at a ';' outside them
    while i < n:
        c = script[i]
        if c == "\n":
            line += 1
            i += 1
        elif script.startswith("--", i):
            i = _to_line_end(script, i)
        elif script.startswith("/*", i):
            i, line = _skip_block_comment(script, i, line)
        elif c == "'" or (c in "eE" and script.startswith("'", i + 1) and not _ident_before(script, i)):
            escapes = c != "'"
            i, line = _skip_string(script, i + (1 if escapes else 0), line, escapes)
        elif c == '"':
            i, line = _skip_until(script, i + 1, '"', line)
        elif c == "$" and not _ident_before(script, i) and (tag := re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$",
                                                                                   script[i:])):
            i, line = _skip_until(script, i + len(tag.group(0)), tag.group(0), line)
        elif c == "\\":
            end = _to_line_end(script, i)
            found.append(MetaCommand(line, script[i:end]))
            i = end
            statement_start = i
        elif c in "()":
            depth += 1 if c == "(" else -1
            i += 1
        elif c == ";" and depth <= 0:
            statement = script[statement_start:i]
            i += 1
            statement_start = i
            if COPY_FROM_STDIN.match(_without_comments(statement)):
                i, line = _skip_copy_data(script, i, line)
                statement_start = i
        else:
            i += 1
    return found


def _ident_before(script: str, i: int) -> bool:
    return i > 0 and (script[i - 1].isalnum() or script[i - 1] in "_$")


def _to_line_end(script: str, i: int) -> int:
    end = script.find("\n", i)
    return len(script) if end < 0 else end


def _skip_until(script: str, i: int, closing: str, line: int) -> tuple[int, int]:
    end = script.find(closing, i)
    end = len(script) if end < 0 else end + len(closing)
    return end, line + script.count("\n", i, end)


def _skip_string(script: str, i: int, line: int, escapes: bool) -> tuple[int, int]:
    """From the opening quote at i past the closing one ('' is a quote; in E'' a backslash escapes too)."""
    j, n = i + 1, len(script)
    while j < n:
        if escapes and script[j] == "\\":
            j += 2
        elif script[j] == "'":
            if script.startswith("'", j + 1):
                j += 2
            else:
                j += 1
                break
        else:
            j += 1
    return j, line + script.count("\n", i, j)


def _skip_block_comment(script: str, i: int, line: int) -> tuple[int, int]:
    """Past a /* */ comment, which nests in PostgreSQL."""
    depth, j, n = 0, i, len(script)
    while j < n:
        if script.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif script.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                break
        else:
            j += 1
    return j, line + script.count("\n", i, j)


def _skip_copy_data(script: str, i: int, line: int) -> tuple[int, int]:
    """COPY ... FROM stdin reads the lines after its statement as data, up to a line that is `\\.`."""
    i = _to_line_end(script, i)
    while i < len(script):
        line += 1
        start = i + 1
        i = _to_line_end(script, start)
        if script[start:i].rstrip("\r") == "\\.":
            break
    return i, line


def _without_comments(statement: str) -> str:
    return re.sub(r"--[^\n]*", "", statement)


def escapes(script: str) -> list[MetaCommand]:
    """The meta-commands pg_dump never writes: each can run a command or read a file of the machine."""
    return [command for command in meta_commands(script) if not command.pg_dump_writes_it]


def describe(found: list[MetaCommand], name: str) -> str:
    shown = "; ".join(f"line {c.line}: {c.text.strip()[:60]!r}" for c in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return (f"{name} holds psql meta-commands pg_dump never writes, which would run commands or read files on the "
            f"machine restoring it: {shown}{more}; it was not run")


def restricted_copy(source: Path, dest: Path) -> Path:
    """The script as the drill feeds it to psql, in a private (0600) file: `\\restrict` with this run's key first
    (psql then refuses every meta-command, psqlscan's judgement, not ours), and the dump's own `\\restrict`,
    `\\unrestrict` and `\\connect` lines left out (the drill connects to the database it restores into)."""
    text = source.read_text(errors="surrogateescape")
    drop = {c.line for c in meta_commands(text) if c.pg_dump_writes_it}
    kept = (line for number, line in enumerate(text.splitlines(keepends=True), 1) if number not in drop)
    dest.touch(mode=0o600)
    dest.chmod(0o600)
    with open(dest, "w", errors="surrogateescape") as out:
        out.write(f"\\restrict {secrets.token_hex(16)}\n")
        out.writelines(kept)
    return dest


def is_globals_script(script: str) -> bool:
    """What pg_dumpall --globals-only writes, and nothing else: its header and completion trailer, and between them
    only comments, blank lines, its own meta-commands and the statements it emits for roles and tablespaces."""
    if GLOBALS_HEADER not in script[:400] or GLOBALS_TRAILER not in script[-400:]:
        return False
    for text in script.splitlines():
        stripped = text.strip()
        if not stripped or stripped.startswith("--") or PG_DUMP_WRITES.fullmatch(stripped):
            continue
        if not GLOBALS_STATEMENTS.match(stripped):
            return False
    return True
