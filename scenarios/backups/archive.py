"""A WAL archive as recovery reads it: compressed files decompressed within bounds, a usable .partial standing in
for its segment, the segments on the backup's system only, a PITR target within what it holds, and the files
recovery may ask for copied into the run's own archive (the source is never read by a server).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.scenarios.backups import basebackup, compression, layouts, wal
from pgdrill.scenarios.verdicts.result import DrillFailure


def check_system_identifiers(found: layouts.Found, archive: Path, segments: list[str]) -> None:
    """Every segment recovery will read belongs to the backup's database system: a foreign one (same name, another
    cluster) makes PostgreSQL end recovery there and promote, silently dropping what follows."""
    system = layouts.system_identifier(found)
    if system is None:
        return
    for name in segments:
        theirs = layouts.segment_system_identifier(archive / name)
        if theirs is not None and theirs != system:
            raise DrillFailure("WAL_FOREIGN_SEGMENT", f"archived WAL segment {name} belongs to database system {theirs}, "
                                                      f"not the backup's {system}: recovery would end there and promote")



COMMIT = re.compile(r"COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (UTC|GMT)")



def check_target_reachable(archive: Path, backup: basebackup.BaseBackup, target: datetime, pg_waldump: str,
                           segments: list[str]) -> None:
    """Before anything starts: the target lies after the backup's consistency point and at or before the last
    commit the archive holds (recovery stops only at a commit later than the target)."""
    files = sorted(p.name for p in archive.iterdir())
    basebackup.check_target_after_backup(files, lambda name: (archive / name).read_bytes(), backup, target)
    last = None
    for name in reversed(segments[-3:]):
        dump = subprocess.run([pg_waldump, "-p", str(archive), "-r", "Transaction", name, name],
                              capture_output=True, text=True)
        found = COMMIT.findall(dump.stdout)
        if found:
            last = datetime.fromisoformat(found[-1][0] + "+00:00")
            break
    if last is not None and target >= last:
        raise DrillFailure("PITR_TARGET_AFTER_ARCHIVE_END",
                           f"the recovery target {target.isoformat(' ')} lies at or after the last commit the archive "
                           f"holds ({last.isoformat(' ')}): recovery would end before reaching it")



PARTIAL = ".partial"



def partial_segment(name: str) -> str | None:
    """The segment a `.partial` file holds the start of (X.partial, X.partial.gz, pg_receivewal's X.gz.partial)."""
    core = compression.plain_name(name)
    if not core.endswith(PARTIAL):
        return None
    core = compression.plain_name(core.removesuffix(PARTIAL))
    return core if wal.SEGMENT_RE.match(core) else None



def usable_partials(names: list[str]) -> dict[str, str]:
    """{file: segment} for `.partial` files that end the WAL a recovery can follow: pg_receivewal's current
    segment, or a promoted server's last one. A partial whose full segment is absent and that no later timeline
    supersedes (no segment at or past it on a newer timeline) is the archive's last word: recovery may use it."""
    segments = {compression.plain_name(name) for name in names if wal.SEGMENT_RE.match(compression.plain_name(name))}
    usable = {}
    for name in names:
        segment = partial_segment(name)
        if segment is None or segment in segments:
            continue
        if not any(other[:8] > segment[:8] and other[8:] >= segment[8:] for other in segments):
            usable[name] = segment
    return usable



def archived_file_limit(name: str) -> int:
    """What an archived file may hold decompressed: a segment (or the start of one) its size, a .history or
    .backup file a small text."""
    plain = compression.plain_name(name)
    segment = wal.SEGMENT_RE.match(plain) or partial_segment(name)
    return wal.SEGMENT_SIZE if segment else 1 << 20



def archive_as_read(archive: Path, workdir: Path) -> tuple[Path, int, dict[str, str]]:
    """The archive as recovery reads it: files an archive_command like `gzip < %p > ARCHIVE/%f.gz` (or zstd, lz4)
    wrote are decompressed, and a usable `.partial` stands in for its segment, all in a private (0700) copy of the
    run. An archive that needs neither is used as is. Returns the directory, how many files were decompressed, and
    the partials used ({file: segment})."""
    files = sorted(p.name for p in archive.iterdir() if p.is_file())
    compressed = [name for name in files if compression.method_of(archive / name)]
    partials = usable_partials(files)
    if not compressed and not partials:
        return archive, 0, {}
    staging = Path(tempfile.mkdtemp(prefix="archive-as-read-", dir=workdir))  # 0700
    for name in files:
        if partial_segment(name) and name not in partials:
            continue
        try:
            compression.decompress(archive / name, staging / partials.get(name, compression.plain_name(name)),
                                   limit=archived_file_limit(name))
        except compression.CorruptCompressed as exc:
            raise DrillFailure("WAL_UNREADABLE", f"archived file {exc}") from None
        except compression.TooLarge as exc:
            raise DrillFailure("BACKUP_EXPANSION_LIMIT", f"archived file {exc}") from None
    return staging, len(compressed), partials



def copy_archive_in(cluster: Cluster, archive: Path, backup: basebackup.BaseBackup) -> int:
    """The archive files recovery from this backup may ask for (segments from its start, .history and .backup
    files) into the scratch cluster's own archive: the source stays unread by the server, whatever its modes."""
    names = [p.name for p in sorted(archive.iterdir()) if p.is_file() and (
        p.name.endswith(".history") or p.name.endswith(".backup")
        or (wal.SEGMENT_RE.match(p.name) and p.name >= backup.start_segment))]
    for name in names:
        cluster.write_archive_file(name, (archive / name).read_bytes())
    return len(names)
