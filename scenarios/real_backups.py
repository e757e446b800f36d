"""The monthly restore test of backups actually taken: the newest dump and the newest base backup under
--backup-dir, restored into scratch clusters this run owns, and verified.

With the manifest scripts/backup.sh writes, tables are compared with its row counts and content
hashes. Without one, the checks that need none, each named: the archive is complete, pg_restore's
exit code and stderr, missing roles or extensions, sequences behind, unpopulated matviews, an empty
restore, and the backup's age against the RPO target. The source directory and WAL archive are only
ever read: the restored server archives into the run's own directory, and the source is fingerprinted
before and after.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.installation import Installation
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.sql import SUPERUSER, VERIFIER
from pgdrill.scenarios import pitr
from pgdrill.scenarios.backups import basebackup, compression, layouts, psql_script, unpack
from pgdrill.scenarios.proofs import checklist, replay, timelines
from pgdrill.scenarios.steps.common import DrillContext, execute
from pgdrill.scenarios.verdicts.checks import FAILED, NotRun, require, run_check
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult

PLAIN_TRAILER = "-- PostgreSQL database dump complete"


def fingerprint(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*") if p.is_file()}


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


def judge_restore_errors(result: ScenarioResult, stderr: str, returncode: int) -> None:
    refused = [line.strip() for line in stderr.splitlines() if psql_script.RESTRICTED_REFUSAL in line]
    if refused:  # psql's own lexer found a meta-command the scan missed, and refused it
        result.find("DUMP_SHELL_ESCAPE", f"psql, restoring in restricted mode, refused {len(refused)} meta-commands: "
                                         f"{refused[0][:160]}")
    errors = [line.strip() for line in stderr.splitlines()
              if ("ERROR" in line or "error:" in line) and psql_script.RESTRICTED_REFUSAL not in line]
    roles = sorted({line.split('role "')[1].split('"')[0] for line in errors if 'role "' in line and "does not exist" in line})
    if roles:
        result.find("ROLES_MISSING", f"the restore needs roles that exist neither on the server nor in the backup: "
                                     f"{', '.join(roles)} (no globals dump beside it)")
    if any("extension" in line or 'type "vector"' in line or 'type "public.vector"' in line for line in errors):
        result.find("EXTENSION_MISSING", "the restore needs an extension this server does not have: "
                    + next(line for line in errors if "extension" in line or "vector" in line))
    other = [line for line in errors if 'role "' not in line and "vector" not in line and "extension" not in line]
    if returncode != 0 or other:
        result.find("RESTORE_ERRORS", f"the restore reported {len(errors)} errors (exit {returncode})"
                                      + (f"; first other: {other[0][:160]}" if other else ""))


def check_restored(result: ScenarioResult, cluster: Cluster, dbname: str, manifest: dict | None) -> None:
    counts = {t: cluster.scalar(f"SELECT count(*) FROM {t}", dbname=dbname)
              for t in checklist.user_tables(cluster, dbname, matviews=False)}
    result.facts["tables"] = counts  # the evidence of what came back, in every schema
    if not counts or not any(counts.values()):
        result.find("EMPTY_RESTORE", f"the restored database {dbname} holds no rows ({len(counts)} tables)")
    unpopulated = cluster.query("SELECT matviewname FROM pg_matviews WHERE NOT ispopulated", dbname=dbname)
    if unpopulated:
        result.find("MATVIEW_UNPOPULATED", "materialized views not populated: " + ", ".join(r[0] for r in unpopulated))
    snap = checklist.Snapshot(dbname=dbname)
    result.checks.append(run_check("sequences not behind", lambda: checklist.check_sequences(cluster, snap)))
    if manifest and manifest.get("tables"):
        snap.tables = {name: (value["rows"], value["hash"]) for name, value in manifest["tables"].items()}
        result.checks.append(run_check("row counts and content hashes (against the backup's manifest)",
                                       lambda: checklist.check_row_counts_and_hashes(cluster, snap)))


def taken_at(path: Path, manifest: dict | None) -> float:
    if manifest and manifest.get("finished_at"):
        return datetime.fromisoformat(manifest["finished_at"].replace("Z", "+00:00")).timestamp()
    return path.stat().st_mtime


def check_age(result: ScenarioResult, path: Path, manifest: dict | None) -> None:
    """A dump's age is its RPO: everything since it is lost."""
    age = time.time() - taken_at(path, manifest)
    result.facts["backup_age_seconds"] = round(age)
    if age > result.rpo_target_seconds:
        result.find("BACKUP_STALE", f"the newest backup {path.name} is {age / 3600:.1f} h old, older than the "
                                    f"RPO target {result.rpo_target_seconds / 3600:.1f} h")


def check_physical_freshness(result: ScenarioResult, base: Path, manifest: dict | None, interval: float,
                             listing: dict[str, float], backup: basebackup.BaseBackup) -> None:
    """A base backup plus a continuous archive (the runbook's design): the base backup's age is judged against
    its schedule and drives replay time; the loss is the age of the newest archived WAL."""
    base_age = time.time() - taken_at(base, manifest)
    result.facts.update(base_backup_age_seconds=round(base_age), base_backup_interval_seconds=interval)
    if base_age > interval:
        result.find("BASE_BACKUP_OVERDUE", f"the newest base backup {base.name} is {base_age / 86400:.1f} days old, "
                                           f"past its {interval / 86400:g}-day schedule (--base-backup-interval)")
    segments = {name: mtime for name, mtime in listing.items() if basebackup.SEGMENT_RE.match(name)}
    if not segments:
        return
    newest = max(segments.values())
    wal_age = time.time() - newest
    to_replay = [name for name in segments if name >= backup.start_segment and name[:8] == backup.start_segment[:8]]
    result.facts.update(newest_archived_wal_age_seconds=round(wal_age),
                        wal_bytes_to_replay=len(to_replay) * basebackup.SEGMENT_SIZE)
    if wal_age > result.rpo_target_seconds:
        result.find("ARCHIVE_LAG", f"the newest archived WAL is {wal_age / 60:.1f} min old, older than the RPO target "
                                   f"{result.rpo_target_seconds / 60:.0f} min: commits since then would be lost")


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


def not_run(ctx: DrillContext, scenario: str, number: int, result_id: str, why: str) -> ScenarioResult:
    """A result that says this kind of backup was not tested, and why (absent), instead of silence."""
    result = ctx.result(scenario, number)
    result.id, result.failure = result_id, None
    result.facts["not_run"] = why
    result.judge()
    return result


def restore_dump(ctx: DrillContext, found: layouts.Found) -> ScenarioResult:
    result = ctx.result("logical_restore", 1)
    result.id = "real_logical"
    dump = found.path

    def body(result: ScenarioResult) -> None:
        before = fingerprint(dump.parent)
        cluster = ctx.make_cluster("real-logical", seeded=False, start=False)
        cluster.isolate()  # production's roles arrive with their password hashes: no network login may use them
        cluster.start()
        manifest, kind = manifest_for(dump), found.format
        result.facts.update(backup=str(dump), format=kind)
        sql = readable_sql(dump, kind, ctx.workdir, ctx.max_expansion) if kind.startswith("plain") else dump
        with result.step("check", f"the {kind} dump is complete, and holds SQL only"):
            if kind.startswith("plain"):  # before anything reads it further: a hostile script is not run at all
                refuse_escapes(dump, sql.read_text(errors="replace"))
            check_complete(result, read_in_copy(cluster), sql, kind)
            if kind.startswith("plain"):
                sql = psql_script.restricted_copy(sql, ctx.workdir / "restore-input-restricted.sql")
            globals_sql = globals_beside(dump)
        dbname = (manifest or {}).get("database") or "restored"
        t0 = time.time()
        with result.step("restore", "globals (when beside the dump), CREATE DATABASE, restore"):
            if globals_sql is not None:
                roles = psql_script.restricted_copy(without_superuser(globals_sql, ctx.workdir),
                                                    ctx.workdir / "globals-restricted.sql")
                cluster.tool("psql", "-X", "-q", "-d", "postgres", stdin_path=roles, check=False)
            cluster.query(f'CREATE DATABASE "{dbname}"')
            if kind.startswith("plain"):
                out = cluster.tool("psql", "-X", "-q", "-d", dbname, stdin_path=sql, check=False)
            elif kind == "directory":  # a directory cannot be streamed: pg_restore reads it staged for the copy
                out = cluster.tool("pg_restore", "-d", dbname, cluster.stage_file(dump), check=False)
            else:
                out = cluster.tool("pg_restore", "-d", dbname, stdin_path=dump, check=False)
            judge_restore_errors(result, out.stderr, out.returncode)
        result.rto_seconds = round(wait_until_writable(cluster, dbname) - t0, 3)
        if ctx.faults.after_restore:
            ctx.faults.after_restore(dump)
        with result.step("verify", "restored content, age, and the source left untouched"):
            result.checks.append(run_check("no production login reaches the copy over the network",
                                           lambda: check_isolated(cluster)))
            check_restored(result, cluster, dbname, manifest)
            check_age(result, dump, manifest)
            if fingerprint(dump.parent) != before:
                result.find("SOURCE_MODIFIED", f"files under {dump.parent} changed during the restore test")

    return execute(result, body, ctx)


def read_base(found: layouts.Found) -> basebackup.BaseBackup:
    """Where the backup's WAL starts: from backup_manifest, or, without one, from its backup_label."""
    if (found.path / "backup_manifest").is_file():
        return basebackup.BaseBackup.read(found.path)
    label = layouts.backup_label(found) or ""
    start = layouts.START_WAL.search(label)
    timeline = re.search(r"START TIMELINE: (\d+)", label)
    if not start:
        raise DrillFailure("BASEBACKUP_CORRUPT", f"{found.path} has neither a backup_manifest nor a readable backup_label")
    lsn = basebackup.parse_lsn(start.group(1))
    return basebackup.BaseBackup(found.path, int(timeline.group(1)) if timeline else int(start.group(2)[:8], 16), lsn,
                                 lsn, 0.0)


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
    pitr.check_target_after_backup(files, lambda name: (archive / name).read_bytes(), backup, target)
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
    return core if basebackup.SEGMENT_RE.match(core) else None


def usable_partials(names: list[str]) -> dict[str, str]:
    """{file: segment} for `.partial` files that end the WAL a recovery can follow: pg_receivewal's current
    segment, or a promoted server's last one. A partial whose full segment is absent and that no later timeline
    supersedes (no segment at or past it on a newer timeline) is the archive's last word: recovery may use it."""
    segments = {compression.plain_name(name) for name in names if basebackup.SEGMENT_RE.match(compression.plain_name(name))}
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
    segment = basebackup.SEGMENT_RE.match(plain) or partial_segment(name)
    return basebackup.SEGMENT_SIZE if segment else 1 << 20


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
        or (basebackup.SEGMENT_RE.match(p.name) and p.name >= backup.start_segment))]
    for name in names:
        cluster.write_archive_file(name, (archive / name).read_bytes())
    return len(names)


def check_isolated(cluster: Cluster) -> str:
    """The restored production copy admits no network login but the drill's own, by password (never trust): every
    non-local pg_hba.conf rule is scram-sha-256 for sql.VERIFIER, and with no such rule it listens on no TCP address."""
    listen = cluster.scalar("SHOW listen_addresses")
    rules = cluster.query("SELECT type, user_name, auth_method FROM pg_hba_file_rules")
    network = [rule for rule in rules if rule[0] != "local"]
    loose = [rule for rule in network if rule[2] != "scram-sha-256" or rule[1] != [VERIFIER]]
    require(not loose, f"pg_hba.conf admits more than the drill over the network: {loose}")
    require(bool(network) or listen == "", f"listen_addresses={listen!r} with no network rule")
    if network:
        return f"over TCP only {VERIFIER} (scram-sha-256, the run's password); production's logins are refused"
    return f"no TCP (listen_addresses=''), pg_hba.conf: local only, socket in {cluster.host} (0700)"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def disable_subscriptions(cluster: Cluster) -> list[str]:
    """A production copy's enabled subscriptions, disabled right after promotion: with max_logical_replication_workers
    pinned to 0 (contract.NEUTRALISED) none could start, and disabled none will once the copy is someone's."""
    rows = cluster.query("SELECT s.subname, d.datname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                         "WHERE s.subenabled")
    for subscription, dbname in rows:
        cluster.query(f"ALTER SUBSCRIPTION {quote_ident(subscription)} DISABLE", dbname=dbname)
    return [f"{dbname}.{subscription}" for subscription, dbname in rows]


SOURCE_REACHING = ("archive_command", "archive_library", "archive_cleanup_command", "recovery_end_command")


def check_source_untargeted(result: ScenarioResult, cluster: Cluster, wal_archive: Path | None) -> None:
    """No setting of the running copy names the source archive (it would write to or delete from it)."""
    if wal_archive is None:
        return
    values = {name: cluster.scalar(f"SHOW {name}") for name in SOURCE_REACHING}
    aimed = {name: value for name, value in values.items() if str(wal_archive) in value}
    result.facts["commands_in_effect"] = values
    if aimed:
        result.find("SOURCE_ARCHIVE_TARGETED", "the restored server's settings name the source archive: "
                    + "; ".join(f"{name} = {value}" for name, value in aimed.items()))


def holds_wal(base: Path) -> bool:
    """Whether a base backup carries its own WAL (pg_wal/ segments, or a pg_wal tar): one taken with -X none
    (Barman's, whose WAL is in its own archive) does not, and its WAL is proved by replay instead."""
    pg_wal = base / "pg_wal"
    if pg_wal.is_dir():
        return any(basebackup.SEGMENT_RE.match(p.name) for p in pg_wal.iterdir())
    return any(base.glob("pg_wal.tar*"))


def verify_base(cluster: Cluster, backup: basebackup.BaseBackup) -> str:
    if not (backup.path / "backup_manifest").is_file():
        raise NotRun(f"{backup.path} has no backup_manifest (taken with --no-manifest, or by another tool): "
                     "pg_verifybackup needs one")
    if holds_wal(backup.path):
        return basebackup.verify(cluster, backup)
    return (basebackup.verify(cluster, backup, parse_wal=False)
            + " (files only, -n: the backup holds no WAL of its own; replay from the archive proves that)")


def restore_base(ctx: DrillContext, found: layouts.Found, wal_archive: Path | None, target: str | None,
                 base_interval: float = 7 * 86400) -> ScenarioResult:
    result = ctx.result("pitr" if target else "physical_restore", 3 if target else 2)
    result.id = "real_physical"
    base = found.path

    target_at = datetime.fromisoformat(target) if target else None

    def body(result: ScenarioResult) -> None:
        sources = [p for p in (base, wal_archive) if p]
        before = {str(p): fingerprint(p) for p in sources}
        backup = read_base(found)
        manifest = manifest_for(base)
        cluster = ctx.make_cluster("real-physical", seeded=False, start=False)
        result.facts.update(backup=str(base), format=found.format, wal_archive=str(wal_archive) if wal_archive else None)
        with result.step("check", "every member of the backup is a plain file, directory or in-tree link, and fits"):
            result.facts["extracted_bytes"] = unpack.check_base_backup(base, cluster.free_bytes())
        with result.step("check", "pg_verifybackup against backup_manifest"):
            verified = run_check("base backup verified (pg_verifybackup)", lambda: verify_base(cluster, backup))
            result.checks.append(verified)
            if verified.status == FAILED and verified.code:
                raise DrillFailure(verified.code, verified.detail)
        archive, recovery_timeline = None, backup.timeline
        if wal_archive:
            with result.step("check", "the archive as recovery reads it (decompressed, .partial as the last segment)"):
                archive, decompressed, partials = archive_as_read(wal_archive, ctx.workdir)
                result.facts.update(archive_files_decompressed=decompressed, partial_segments_used=sorted(partials))
            with result.step("check", "WAL archive continuity along the timeline path recovery takes"):
                listing = {p.name: p.stat().st_size for p in archive.iterdir() if p.is_file()}
                read = archive.joinpath  # bound before the lambda: mypy cannot narrow `archive` inside it
                legs, recovery_timeline = timelines.check_path(sorted(listing), lambda name: read(name).read_bytes(),
                                                               backup.timeline, backup.start_lsn, str(wal_archive))
                segments = [name for leg in legs for name in leg]
                result.facts.update(timeline_path=[int(leg[0][:8], 16) for leg in legs if leg],
                                    recovery_timeline=recovery_timeline)
                basebackup.check_segment_sizes(listing, segments)
                waldump = basebackup.host_waldump(ctx.installation.tool("pg_waldump"), archive)
                check_system_identifiers(found, archive, segments)
                partial_tail = set(partials.values())
                for leg in legs:  # pg_waldump reads one timeline per call
                    basebackup.check_archive_readable(waldump, leg, ends_in_partial=bool(leg) and leg[-1] in partial_tail)
                if target_at is not None:
                    check_target_reachable(archive, backup, target_at, ctx.installation.tool("pg_waldump"), segments)
        if archive:
            with result.step("restore", "copy the archive's WAL for this backup into the scratch cluster's archive"):
                started = time.perf_counter()
                copied = copy_archive_in(cluster, archive, backup)
                result.facts.update(archive_files_copied=copied, archive_copy_seconds=round(time.perf_counter() - started, 3))
        t0 = time.time()
        with result.step("restore", "extract, recovery.signal, restore_command reading the copied archive"):
            cluster.wipe_data()
            basebackup.extract(cluster, backup)
            # the backup's own pg_hba.conf asks for production passwords the drill does not have, and would
            # admit production's logins: the scratch server admits only the drill (contract.isolate)
            cluster.isolate()
            cluster.write_data_file("recovery.signal", "")
            settings = {"restore_command": cluster.runbook_restore_command() if wal_archive else "/bin/false",
                        **cluster.runbook_settings()}  # archive into this run's own directory, never the source's
            if target:
                settings.update(recovery_target_time=target, recovery_target_action="promote")
            if ctx.faults.restored_settings:
                settings = ctx.faults.restored_settings(settings)
            cluster.write_auto_conf(settings, append=True)
        archived = cluster.archived_segments()
        log_from = cluster.log_size()
        t1 = basebackup.start_recovery(cluster, "postgres", evidence=result.evidence)
        result.rto_seconds = round(t1 - t0, 3)
        result.facts["subscriptions_disabled"] = disable_subscriptions(cluster)
        result.facts["tablespaces"] = dict(cluster.query(  # each inside the copy's data directory (contract)
            "SELECT spcname, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT LIKE 'pg\\_%'"))
        with result.step("verify", "where recovery went: the server's account against the archive or the target"):
            log = cluster.log_since(log_from)
            if target_at is None:
                replay.prove_archive_end_reached(result, log, archived, recovery_timeline)
            else:
                result.facts["recovery_stop"] = replay.stop_line(log)
                pitr.confirm_stop(result)
        basebackup.reset_recovery_settings(result, cluster, step="reset")
        with result.step("verify", "the restored server, its archiving target, and the source left untouched"):
            result.checks.append(run_check("no production login reaches the copy over the network",
                                           lambda: check_isolated(cluster)))
            check_source_untargeted(result, cluster, wal_archive)
            dbname = (manifest or {}).get("database")
            if dbname:
                check_restored(result, cluster, dbname, manifest)
            mtimes = ({compression.plain_name(p.name): p.stat().st_mtime for p in wal_archive.iterdir()}
                      if wal_archive else {})
            check_physical_freshness(result, base, manifest, base_interval, mtimes, backup)
            for path in sources:
                if fingerprint(path) != before[str(path)]:
                    result.find("SOURCE_MODIFIED", f"files under {path} changed during the restore test")

    return execute(result, body, ctx)
