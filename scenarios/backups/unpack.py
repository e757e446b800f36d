"""What a real backup's archives may hold, judged before anything extracts them: backup content is hostile input.

A base backup is extracted as root (tar on this host, or a root helper container on the engine) and then
handed to the server's account. A tar member that is a device node, a FIFO, a setuid or setgid file, a
name outside the tree (absolute, `..`) or a link pointing out of it would become, with the server's
ownership, a way into this machine; a member list whose sizes add up past the free disk would fill it.
So every member is read from the tar headers first (stream mode: nothing is written) and the backup is
refused with BACKUP_UNSAFE_MEMBER or BACKUP_EXPANSION_LIMIT, naming the member. A plain (-Fp) backup is
walked the same way. tarfile's own `data` filter decides this only at extraction, and Python 3.11.2
(Debian bookworm, the runner image) does not have it, so the rule is written here, once, for both backends.
"""

from __future__ import annotations

import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from pgdrill.fixtures.contract import base_layout, tablespace_archives
from pgdrill.scenarios.backups import compression
from pgdrill.scenarios.verdicts.result import DrillFailure

SAFE_TYPES = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
              tarfile.GNUTYPE_SPARSE}
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def _unsafe(archive: str, name: str, why: str) -> DrillFailure:
    return DrillFailure("BACKUP_UNSAFE_MEMBER", f"{archive} holds {name!r}, {why}: a backup is extracted as root and "
                                                f"handed to the server's account, so it is not extracted at all")


def _inside(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def _link_inside(member_name: str, target: str) -> bool:
    """A symlink's target, relative to the member's directory, stays in the tree."""
    if PurePosixPath(target).is_absolute():
        return False
    depth = 0
    for part in (*PurePosixPath(member_name).parent.parts, *PurePosixPath(target).parts):
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            return False
    return True


def check_member(archive: str, member: tarfile.TarInfo) -> None:
    """Raise BACKUP_UNSAFE_MEMBER unless member is a regular file, a directory or an in-tree link, with no
    setuid, setgid or sticky bit, named inside the tree."""
    if member.type not in SAFE_TYPES:
        kind = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
                tarfile.FIFOTYPE: "a FIFO"}.get(member.type, f"a member of type {member.type!r}")
        raise _unsafe(archive, member.name, kind)
    if not _inside(member.name):
        raise _unsafe(archive, member.name, "a name outside the tree it is extracted into")
    if member.mode & SPECIAL_BITS:
        raise _unsafe(archive, member.name, f"a file with mode {member.mode:o} (setuid, setgid or sticky)")
    if member.issym() and not _link_inside(member.name, member.linkname):
        raise _unsafe(archive, member.name, f"a symlink to {member.linkname!r}, outside the tree")
    if member.islnk() and not _inside(member.linkname):
        raise _unsafe(archive, member.name, f"a hard link to {member.linkname!r}, outside the tree")


@contextmanager
def _stream(path: Path) -> Iterator[IO[bytes]]:
    """The tar's bytes, decompressed as they are read (gzip in-process, zstd and lz4 through their tools)."""
    method = compression.method_of(path)
    if method in (None, "gzip"):
        with open(path, "rb") as raw:
            yield raw
        return
    with subprocess.Popen([compression.tool_for(method, path.name), "-dc", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None  # piped
        try:
            yield proc.stdout
        finally:
            proc.kill()


def tar_bytes(path: Path) -> int:
    """Every member of the tar checked (check_member); returns the bytes its files will take extracted."""
    total = 0
    with _stream(path) as raw:
        try:
            with tarfile.open(fileobj=raw, mode="r|*") as tar:
                for member in tar:
                    check_member(path.name, member)
                    total += member.size if member.isfile() else 0
                assert tar.fileobj is not None  # opened on raw
                if not zeros_to_the_end(tar.fileobj.read):
                    raise DrillFailure("BASEBACKUP_CORRUPT", f"{path.name} goes on after its end-of-archive marker: "
                                                             "cut or corrupt, or a member hidden from readers that "
                                                             "stop there (tar --ignore-zeros, as the restore runs it, "
                                                             "would extract it), so it is not extracted")
        except tarfile.ReadError as exc:
            if str(exc) != "empty file":  # a tar of no members (pg_wal.tar when no WAL was needed) holds nothing
                raise DrillFailure("BASEBACKUP_CORRUPT", f"{path.name} cannot be read as a tar to its end: {exc}") from None
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DrillFailure("BASEBACKUP_CORRUPT", f"{path.name} cannot be read as a tar to its end: {exc}") from None
    return total


def zeros_to_the_end(read: Callable[[int], bytes]) -> bool:
    """Whether nothing but zeros (the marker's second block, the record's padding) follows where tarfile stopped."""
    while chunk := read(1 << 16):
        if chunk.strip(b"\0"):
            return False
    return True


def tree_bytes(root: Path) -> int:
    """A plain (-Fp) backup walked as tar_bytes reads a tar: no special files, no setuid, no links out of it."""
    total = 0
    for path in root.rglob("*"):
        info = path.lstat()
        name = str(path.relative_to(root))
        if stat.S_ISLNK(info.st_mode):
            if path.parent.name == "pg_tblspc" and not _link_inside(name, str(path.readlink())):
                raise _unsafe(root.name, name, f"a tablespace link to {str(path.readlink())!r}: a plain backup keeps "
                                               "its tablespaces outside itself (where pg_basebackup -T put them, or "
                                               "production's own), so they are not in it to restore; take it with -Ft")
            if not _link_inside(name, str(path.readlink())):
                raise _unsafe(root.name, name, f"a symlink to {str(path.readlink())!r}, outside the tree")
            continue
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise _unsafe(root.name, name, "neither a file nor a directory (a device, FIFO or socket)")
        if info.st_mode & SPECIAL_BITS:
            raise _unsafe(root.name, name, f"a file with mode {info.st_mode & 0o7777:o} (setuid, setgid or sticky)")
        total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def check_base_backup(backup_dir: Path, free_bytes: int) -> int:
    """A base backup's tars (or its plain tree) checked member by member, and their size against the free space
    where they will be extracted (BACKUP_EXPANSION_LIMIT). Returns the bytes it will take."""
    base, wal = base_layout(backup_dir)
    if base is None:
        total = tree_bytes(backup_dir)
    else:
        tars = [base, *([wal] if wal else []), *tablespace_archives(backup_dir).values()]
        total = sum(tar_bytes(backup_dir / name) for name in tars)
    if total > free_bytes:
        raise DrillFailure("BACKUP_EXPANSION_LIMIT", f"the base backup in {backup_dir} takes {total:,} bytes extracted, "
                                                     f"more than the {free_bytes:,} bytes free where it is restored")
    return total
