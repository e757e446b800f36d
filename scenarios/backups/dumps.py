"""Dumps as a restore reads them: where their manifest is, whether they were read to the end, a compressed plain
dump decompressed within bounds, the globals file beside them (by content), and psql scripts refused when they
hold meta-commands pg_dump never writes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.installation import Installation
from pgdrill.fixtures.sql import SUPERUSER
from pgdrill.scenarios.backups import compression, layouts, psql_script
from pgdrill.scenarios.verdicts.checks import NotRun
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult

PLAIN_TRAILER = "-- PostgreSQL database dump complete"



def find_manifest(path: Path) -> Path | None:
    """scripts/backup.sh's manifest.json beside the backup (or one level up), when there is one."""
    return next((candidate for candidate in (path / "manifest.json", path.parent / "manifest.json",
                                             path.parent.parent / "manifest.json") if candidate.is_file()), None)



def manifest_for(path: Path) -> dict | None:
    found = find_manifest(path)
    return json.loads(found.read_text()) if found else None



def without_superuser(globals_sql: Path, workdir: Path) -> Path:
    """A copy of the globals dump without the lines for the superuser the drill connects as.

    Restoring them would give the scratch server production's superuser password, and lock the drill out.
    """
    kept = [line for line in globals_sql.read_text().splitlines(keepends=True)
            if not line.startswith((f"CREATE ROLE {SUPERUSER};", f"ALTER ROLE {SUPERUSER} "))]
    copy = workdir / "globals-without-superuser.sql"
    copy.touch(mode=0o600)  # production's role password hashes: private
    copy.write_text("".join(kept))
    return copy



def host_tool(installation: Installation, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL tool of this host's installation, reading backup files of this host (never a server)."""
    return subprocess.run([installation.tool(name), *args], capture_output=True, text=True)



ReadToEnd = Callable[[Path], "subprocess.CompletedProcess[str]"]  # `pg_restore -f /dev/null` over a dump



def read_on_host(installation: Installation) -> ReadToEnd:
    """pg_restore of this host reading a dump to its end (the gate's own backups, taken in the test)."""
    return lambda dump: host_tool(installation, "pg_restore", "-f", "/dev/null", str(dump))



def read_in_copy(cluster: Cluster) -> ReadToEnd:
    """pg_restore reading a production dump to its end where the copy's own tools run (as its account, or in its
    container), never as this process: the dump is hostile input. Streamed, or staged when it is a directory."""
    def read(dump: Path) -> subprocess.CompletedProcess[str]:
        if dump.is_dir():
            return cluster.tool("pg_restore", "-f", "/dev/null", cluster.stage_file(dump), check=False)
        return cluster.tool("pg_restore", "-f", "/dev/null", stdin_path=dump, check=False)
    return read



def check_complete(result: ScenarioResult, read_to_end: ReadToEnd, dump: Path, kind: str) -> None:
    if kind.startswith("plain"):
        tail = dump.read_bytes()[-4096:].decode(errors="replace")
        if PLAIN_TRAILER not in tail:
            result.find("DUMP_TRUNCATED", f"{dump.name} is a plain SQL dump without pg_dump's completion trailer "
                                          f"('{PLAIN_TRAILER}'): it was cut short (psql would restore it with exit 0)")
        return
    out = read_to_end(dump)
    if "this build does not support compression" in out.stderr:
        raise NotRun(f"{dump.name} is compressed with a method this installation's pg_restore was built without: "
                     f"{' '.join(out.stderr.split())[:160]}")
    if out.returncode != 0:
        result.find("DUMP_TRUNCATED", f"{dump.name} ({kind} archive) cannot be read to the end: "
                                      f"{' '.join(out.stderr.split())[:200]}")



def refuse_escapes(path: Path, script: str) -> None:
    """A psql script holding meta-commands pg_dump never writes is not run at all: DUMP_SHELL_ESCAPE."""
    found = psql_script.escapes(script)
    if found:
        raise DrillFailure("DUMP_SHELL_ESCAPE", psql_script.describe(found, path.name))



def globals_beside(dump: Path) -> Path | None:
    """The pg_dumpall --globals-only file kept beside a dump: globals.sql, else a file whose content is what
    pg_dumpall writes (not any file that merely starts with its header). A candidate holding meta-commands is
    DUMP_SHELL_ESCAPE: whoever wrote it into the backup store is not to be trusted with the rest either."""
    named = dump.parent / "globals.sql"
    candidates = [named] if named.is_file() else [
        p for p in sorted(dump.parent.iterdir()) if p.is_file() and p != dump and layouts.is_globals_dump(p)]
    for path in candidates:
        if compression.method_of(path):
            continue  # psql reads it as text: a compressed globals file is not one it could restore
        script = path.read_text(errors="replace")
        refuse_escapes(path, script)
        if psql_script.is_globals_script(script):
            return path
    return None



def readable_sql(dump: Path, kind: str, workdir: Path, max_expansion: float) -> Path:
    """A plain dump as psql reads it: compressed ones decompressed into a private (0600) file of the run.
    One that does not decompress to its end was cut short: DUMP_TRUNCATED."""
    if kind == "plain":
        return dump
    out = workdir / "restore-input.sql"
    try:
        compression.decompress(dump, out, limit=int(dump.stat().st_size * max_expansion))
    except compression.CorruptCompressed as exc:
        raise DrillFailure("DUMP_TRUNCATED", str(exc)) from None
    except compression.TooLarge as exc:
        raise DrillFailure("BACKUP_EXPANSION_LIMIT", f"{exc} (--max-expansion {max_expansion:g})") from None
    return out
