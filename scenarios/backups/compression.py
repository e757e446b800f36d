"""Compressed backup files read as the tools that wrote them would read them back.

Teams pipe dumps and WAL through gzip, zstd or lz4 (`pg_dump | zstd`, `archive_command = 'zstd < %p >
%f.zst'`). The method is told by the file's magic bytes, never its name. gzip is read in-process
(the standard library has it); zstd and lz4 through their own command-line tools, which are what
produced the files and what a restore_command would call. Python's standard library reads neither
before 3.14, and a PyPI binding would be one more compiled dependency for two `-dc` calls. Where a
tool is not installed the check is "not run" with that reason, never a pass and never a crash.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from pgdrill.fixtures.contract import COMPRESSION_SUFFIXES, plain_archive_name
from pgdrill.scenarios.verdicts.checks import NotRun

GZIP_MAGIC, ZSTD_MAGIC, LZ4_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
METHODS = {GZIP_MAGIC: "gzip", ZSTD_MAGIC: "zstd", LZ4_MAGIC: "lz4"}
SUFFIXES = COMPRESSION_SUFFIXES  # one list: the cluster contract strips the same suffixes from archive names

plain_name = plain_archive_name  # one definition: the cluster contract lists archives the same way


class CorruptCompressed(ValueError):
    """A compressed file that does not decompress to its end (cut short or damaged)."""


class TooLarge(ValueError):
    """A compressed file that expands past its bound (a WAL segment past its size, a stream past its multiple of
    the input, or past the free disk space): stopped there, nothing more written."""


CHUNK = 1 << 20
FREE_SPACE_RESERVE = 256 << 20  # what a decompression leaves free on the disk it writes to


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _copy_bounded(source: Readable, out: BinaryIO, name: str, limit: int | None, free: int) -> None:
    written = 0
    while block := source.read(CHUNK):
        written += len(block)
        if limit is not None and written > limit:
            raise TooLarge(f"{name} expands past {limit:,} bytes, its bound: stopped there")
        if written > free:
            raise TooLarge(f"{name} expands past the {free:,} bytes free on the disk it is written to: stopped there")
        out.write(block)


def method_of(path: Path) -> str | None:
    """"gzip", "zstd" or "lz4" by the file's first bytes; None when it is not compressed."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((method for magic, method in METHODS.items() if head.startswith(magic)), None)


def tool_for(method: str, what: str) -> str:
    tool = shutil.which(method)
    if tool is None:
        raise NotRun(f"{what} is compressed with {method}, and no `{method}` tool is installed here to read it")
    return tool


def decompress(path: Path, dest: Path, limit: int | None = None) -> None:
    """The file's decompressed bytes into dest, created 0600 (production data stays private), never more than limit
    bytes nor more than the destination's disk has free (TooLarge: a bomb fills no disk)."""
    method = method_of(path)
    free = shutil.disk_usage(dest.parent).free - FREE_SPACE_RESERVE
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as out:
        if method is None:
            with open(path, "rb") as source:
                _copy_bounded(source, out, path.name, limit, free)
        elif method == "gzip":
            try:
                with gzip.open(path) as source:
                    _copy_bounded(source, out, path.name, limit, free)
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptCompressed(f"{path.name} does not gunzip to its end: {exc}") from None
        else:
            with subprocess.Popen([tool_for(method, path.name), "-dc", str(path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) as proc:
                assert proc.stdout is not None and proc.stderr is not None  # both piped
                try:
                    _copy_bounded(proc.stdout, out, path.name, limit, free)
                except TooLarge:
                    proc.kill()
                    raise
                err = proc.stderr.read()
            if proc.returncode != 0:
                raise CorruptCompressed(f"{path.name} does not decompress with {method} -dc (exit {proc.returncode}): "
                                        f"{' '.join(err.decode(errors='replace').split())[:200]}")


def head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of the file's content, decompressed (b"" when they will not decompress or no tool reads them)."""
    method = method_of(path)
    try:
        if method is None:
            with open(path, "rb") as handle:
                return handle.read(size)
        if method == "gzip":
            with gzip.open(path) as stream:
                return stream.read(size)
        tool = shutil.which(method)
        if tool is None:
            return b""
        with subprocess.Popen([tool, "-dc", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
            assert proc.stdout is not None
            data = proc.stdout.read(size)
            proc.kill()
            return data
    except (OSError, EOFError, zlib.error):
        return b""
