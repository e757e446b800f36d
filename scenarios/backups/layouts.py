"""Backups found by what they are, not by what they are called.

Teams keep backups in the layouts their tools write: pg_dump's custom, directory, tar and plain
formats (plain often piped through gzip), pg_basebackup's plain data directories and tar archives.
A file's first bytes (and, for a tar, its first members) say which it is: a dump tar starts with
toc.dat, a base backup's tar holds PG_VERSION and backup_label, a custom dump starts with PGDMP, a
plain dump with pg_dump's header. A pg_dumpall globals file is no database dump (it travels beside one).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pgdrill.scenarios.backups import compression

PLAIN_HEADER = b"-- PostgreSQL database dump"
GLOBALS_HEADER = b"-- PostgreSQL database cluster dump"
BASE_MEMBERS = {"PG_VERSION", "backup_label", "./PG_VERSION", "./backup_label"}
BASE_ARCHIVES = ("base.tar", "base.tar.gz", "base.tar.zst", "base.tar.lz4")


@dataclass(frozen=True)
class Found:
    """One backup: logical or physical, its format as a person would name it, where it is, when it was taken."""

    kind: str  # "logical" | "physical"
    format: str
    path: Path  # the dump file or directory; for a base backup the directory holding it
    mtime: float


def _head(path: Path, size: int = 4096) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _tar_first_names(opener) -> list[str]:
    try:
        with opener() as tar:
            names = []
            for member in tar:
                names.append(member.name)
                if len(names) >= 64:
                    break
            return names
    except (tarfile.TarError, OSError, EOFError):
        return []


def classify_file(path: Path) -> str | None:
    """The dump format of a file, or None when it is no database dump (a base tar, a globals file, anything else)."""
    head = _head(path)
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[257:262] == b"ustar":
        names = _tar_first_names(lambda: tarfile.open(path, "r:"))
        return "tar" if names[:1] == ["toc.dat"] else None
    method = compression.method_of(path)
    if method is None:
        return "plain" if _is_plain_dump(head) else None
    suffix = compression.SUFFIXES[method]
    text = compression.head(path)
    if _is_plain_dump(text) or (not text and path.name.endswith(".sql" + suffix)):  # no tool here to look inside
        return "plain" + suffix
    return None


def _is_plain_dump(head: bytes) -> bool:
    return PLAIN_HEADER in head[:400] and GLOBALS_HEADER not in head[:400]


def is_globals_dump(path: Path) -> bool:
    return GLOBALS_HEADER in compression.head(path)[:400]


def classify_dir(path: Path) -> tuple[str, str] | None:
    """("logical", "directory") for a pg_dump -Fd directory; ("physical", format) for a base backup: plain, tar
    (compressed or not), or a pgBackRest backup set (its backup.manifest; the files are the tool's to restore)."""
    if (path / "toc.dat").is_file():
        return "logical", "directory"
    if is_pgbackrest_set(path):
        return "physical", "pgbackrest"
    if (path / "PG_VERSION").is_file() and (path / "backup_label").is_file():
        return "physical", "plain"
    for name in BASE_ARCHIVES:
        if (path / name).is_file() and _base_tar(path / name):
            return "physical", name.removeprefix("base.")
    return None


def is_pgbackrest_set(path: Path) -> bool:
    """A pgBackRest backup set: a directory whose backup.manifest has the [backup] section with its start LSN."""
    manifest = path / "backup.manifest"
    return manifest.is_file() and b"backup-lsn-start=" in _head(manifest, 1 << 16) and b"[backup]" in _head(manifest)


def _base_tar(path: Path) -> bool:
    method = compression.method_of(path)
    if method in ("zstd", "lz4") and shutil.which(method) is None:
        return True  # no tool here to look inside: its name is all that can be told
    return bool(BASE_MEMBERS & set(_tar_first_names(lambda: _open_tar(path))))


@contextmanager
def _open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A base backup's tar read as a stream, decompressed (zstd and lz4 through their tools)."""
    method = compression.method_of(path)
    if method in (None, "gzip"):
        with tarfile.open(path, "r:gz" if method else "r:") as tar:
            yield tar
        return
    tool = shutil.which(method)
    if tool is None:
        raise OSError(f"no {method} tool installed to read {path.name}")
    with subprocess.Popen([tool, "-dc", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                yield tar
        finally:
            proc.kill()


def _member(base: Found, name: str, size: int = -1) -> bytes | None:
    """One file of a base backup (a -Fp directory, or inside base.tar[.gz|.zst|.lz4]); None when unreadable."""
    if base.format == "plain":
        data = (base.path / name).read_bytes()
        return data if size < 0 else data[:size]
    try:
        with _open_tar(base.path / f"base.{base.format}") as tar:
            for member in tar:
                if member.name.removeprefix("./") == name:
                    handle = tar.extractfile(member)
                    return handle.read(size) if handle else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def find_backups(backup_dir: Path) -> dict[str, Found | None]:
    """The newest logical and the newest physical backup at backup_dir (either may be None): the backup itself when
    it names one (a dump file, a -Fd directory, a -Fp or -Ft base backup directory), else what lies under it."""
    found: list[Found] = []
    inside_dump_dirs: set[Path] = set()
    for path in [backup_dir, *(sorted(backup_dir.rglob("*")) if backup_dir.is_dir() else [])]:
        if any(parent in inside_dump_dirs for parent in path.parents) or (path != backup_dir and path.is_symlink()):
            continue  # inside a backup already found, or a link to one (pgBackRest's `latest`)
        if path.is_dir():
            what = classify_dir(path)
            if what:
                found.append(Found(what[0], what[1], path, path.stat().st_mtime))
                inside_dump_dirs.add(path)  # a data directory or dump directory is one backup, not many files
        elif path.is_file():
            fmt = classify_file(path)
            if fmt:
                found.append(Found("logical", fmt, path, path.stat().st_mtime))
    newest: dict[str, Found | None] = {"logical": None, "physical": None}
    for item in found:
        current = newest[item.kind]
        if current is None or item.mtime > current.mtime:
            newest[item.kind] = item
    return newest


def system_identifier(base: Found) -> int | None:
    """The database system identifier in the backup's global/pg_control (its first 8 bytes)."""
    data = _member(base, "global/pg_control", 8)
    return int.from_bytes(data, "little") if data and len(data) == 8 else None


def segment_system_identifier(path: Path) -> int | None:
    """xlp_sysid of a WAL segment's long page header (bytes 24-32 of the file)."""
    head = _head(path, 32)
    return int.from_bytes(head[24:32], "little") if len(head) == 32 else None


START_WAL = re.compile(r"START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)")


def backup_label(base: Found) -> str | None:
    """The base backup's backup_label text (in a -Fp directory, or inside its base tar)."""
    data = _member(base, "backup_label")
    return data.decode() if data is not None else None
