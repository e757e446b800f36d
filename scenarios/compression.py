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

from pgdrill.fixtures.contract import COMPRESSION_SUFFIXES, plain_archive_name
from pgdrill.scenarios.checks import NotRun

GZIP_MAGIC, ZSTD_MAGIC, LZ4_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"
METHODS = {GZIP_MAGIC: "gzip", ZSTD_MAGIC: "zstd", LZ4_MAGIC: "lz4"}
SUFFIXES = COMPRESSION_SUFFIXES  # one list: the cluster contract strips the same suffixes from archive names

plain_name = plain_archive_name  # one definition: the cluster contract lists archives the same way


class CorruptCompressed(ValueError):
    """A compressed file that does not decompress to its end (cut short or damaged)."""


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


def decompress(path: Path, dest: Path) -> None:
    """The file's decompressed bytes into dest, created 0600 (production data stays private)."""
    method = method_of(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as out:
        if method is None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
        elif method == "gzip":
            try:
                with gzip.open(path) as source:
                    shutil.copyfileobj(source, out, 1 << 20)
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptCompressed(f"{path.name} does not gunzip to its end: {exc}") from None
        else:
            done = subprocess.run([tool_for(method, path.name), "-dc", str(path)], stdout=out, stderr=subprocess.PIPE)
            if done.returncode != 0:
                raise CorruptCompressed(f"{path.name} does not decompress with {method} -dc (exit {done.returncode}): "
                                        f"{' '.join(done.stderr.decode(errors='replace').split())[:200]}")


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
