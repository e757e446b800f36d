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

import time
from datetime import datetime
from functools import partial
from pathlib import Path

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.sql import VERIFIER
from pgdrill.scenarios.backups import (
    archive,
    basebackup,
    compression,
    dumps,
    layouts,
    psql_script,
    repository,
    unpack,
    wal,
)
from pgdrill.scenarios.proofs import checklist, timelines
from pgdrill.scenarios.steps.common import DrillContext, execute
from pgdrill.scenarios.steps.recovery import start_and_prove
from pgdrill.scenarios.verdicts.checks import FAILED, require, run_check
from pgdrill.scenarios.verdicts.result import DrillFailure, ScenarioResult


def fingerprint(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*") if p.is_file()}


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
    segments = {name: mtime for name, mtime in listing.items() if wal.SEGMENT_RE.match(name)}
    if not segments:
        return
    newest = max(segments.values())
    wal_age = time.time() - newest
    to_replay = [name for name in segments if name >= backup.start_segment and name[:8] == backup.start_segment[:8]]
    result.facts.update(newest_archived_wal_age_seconds=round(wal_age),
                        wal_bytes_to_replay=len(to_replay) * wal.SEGMENT_SIZE)
    if wal_age > result.rpo_target_seconds:
        result.find("ARCHIVE_LAG", f"the newest archived WAL is {wal_age / 60:.1f} min old, older than the RPO target "
                                   f"{result.rpo_target_seconds / 60:.0f} min: commits since then would be lost")


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
        manifest, kind = dumps.manifest_for(dump), found.format
        result.facts.update(backup=str(dump), format=kind)
        sql = dumps.readable_sql(dump, kind, ctx.workdir, ctx.max_expansion) if kind.startswith("plain") else dump
        with result.step("check", f"the {kind} dump is complete, and holds SQL only"):
            if kind.startswith("plain"):  # before anything reads it further: a hostile script is not run at all
                dumps.refuse_escapes(dump, sql.read_text(errors="replace"))
            dumps.check_complete(result, dumps.read_in_copy(cluster), sql, kind)
            if kind.startswith("plain"):
                sql = psql_script.restricted_copy(sql, ctx.workdir / "restore-input-restricted.sql")
            globals_sql = dumps.globals_beside(dump)
        dbname = (manifest or {}).get("database") or "restored"
        t0 = time.time()
        with result.step("restore", "globals (when beside the dump), CREATE DATABASE, restore"):
            if globals_sql is not None:
                roles = psql_script.restricted_copy(dumps.without_superuser(globals_sql, ctx.workdir),
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


def check_source_untargeted(result: ScenarioResult, cluster: Cluster, markers: list[str]) -> None:
    """No setting of the running copy names the source archive (it would write to or delete from it): its path, or
    for a repository the tool's stanza."""
    if not markers:
        return
    values = {name: cluster.scalar(f"SHOW {name}") for name in SOURCE_REACHING}
    aimed = {name: value for name, value in values.items() if any(marker in value for marker in markers)}
    result.facts["commands_in_effect"] = values
    if aimed:
        result.find("SOURCE_ARCHIVE_TARGETED", "the restored server's settings name the source archive: "
                    + "; ".join(f"{name} = {value}" for name, value in aimed.items()))


def restore_base(ctx: DrillContext, found: layouts.Found, wal_archive: Path | None, target: str | None,
                 base_interval: float = 7 * 86400, pgbackrest_config: Path | None = None) -> ScenarioResult:
    """The newest base backup (a pgBackRest set: put into the stock layout by pgBackRest first) recovered in a private
    scratch copy to the end of its archive, or to the target, and proven."""
    result = ctx.result("pitr" if target else "physical_restore", 3 if target else 2)
    result.id = "real_physical"
    original = found
    target_at = datetime.fromisoformat(target) if target else None

    def body(result: ScenarioResult) -> None:
        nonlocal found, wal_archive
        tool_seconds, repository_mtimes, verify = 0.0, None, None
        verifier = "pgbackrest verify" if found.format == "pgbackrest" else "pg_verifybackup"
        archive_named = str(wal_archive)
        sources = [p for p in (found.path, wal_archive) if p]
        source_markers = [str(wal_archive)] if wal_archive else []
        if found.format == "pgbackrest":
            tool = repository.PgBackRest.of(found, pgbackrest_config, ctx.workdir)
            sources, source_markers = [tool.repo], [str(tool.repo), f"--stanza={tool.stanza}"]
        before = {str(p): fingerprint(p) for p in sources}
        if found.format == "pgbackrest":
            tool_started = time.perf_counter()
            with result.step("restore", f"pgbackrest restore --type=none of a set of stanza {tool.stanza}, and "
                                        "archive-get of its WAL, into private copies"):
                copies = repository.materialize(tool, found, target_at)
            tool_seconds = time.perf_counter() - tool_started  # the tool's restore is part of the recovery time
            found, wal_archive, repository_mtimes = copies.base, copies.archive, copies.stored
            archive_named = f"of the pgBackRest repository {tool.repo} (stanza {tool.stanza}, as archive-get gives it)"
            verify = partial(tool.verify, copies.label)  # the tool's own verification, where pg_verifybackup would be
            result.facts.update(pgbackrest_repository=str(tool.repo), pgbackrest_stanza=tool.stanza,
                                pgbackrest_set=copies.label, pgbackrest_refused=copies.refused)
        base = found.path
        backup = basebackup.read_base(found)
        manifest = dumps.manifest_for(base)
        cluster = ctx.make_cluster("real-physical", seeded=False, start=False)
        result.facts.update(backup=str(original.path), format=original.format,
                            wal_archive=str(wal_archive) if wal_archive else None)
        with result.step("check", "every member of the backup is a plain file, directory or in-tree link, and fits"):
            result.facts["extracted_bytes"] = unpack.check_base_backup(base, cluster.free_bytes())
        with result.step("check", f"{verifier} against the backup's manifest"):
            verified = run_check(f"base backup verified ({verifier})", verify or (
                lambda: basebackup.verify_base(cluster, backup)))
            result.checks.append(verified)
            if verified.status == FAILED and verified.code:
                raise DrillFailure(verified.code, verified.detail)
        as_read, recovery_timeline = None, backup.timeline
        if wal_archive:
            with result.step("check", "the archive as recovery reads it (decompressed, .partial as the last segment)"):
                as_read, decompressed, partials = archive.archive_as_read(wal_archive, ctx.workdir)
                result.facts.update(archive_files_decompressed=decompressed, partial_segments_used=sorted(partials))
            with result.step("check", "WAL archive continuity along the timeline path recovery takes"):
                listing = {p.name: p.stat().st_size for p in as_read.iterdir() if p.is_file()}
                read = as_read.joinpath  # bound before the lambda: mypy cannot narrow `as_read` inside it
                legs, recovery_timeline = timelines.check_path(sorted(listing), lambda name: read(name).read_bytes(),
                                                               backup.timeline, backup.start_lsn, archive_named)
                segments = [name for leg in legs for name in leg]
                result.facts.update(timeline_path=[int(leg[0][:8], 16) for leg in legs if leg],
                                    recovery_timeline=recovery_timeline)
                basebackup.check_segment_sizes(listing, segments)
                waldump = basebackup.host_waldump(ctx.installation.tool("pg_waldump"), as_read)
                archive.check_system_identifiers(found, as_read, segments)
                partial_tail = set(partials.values())
                for leg in legs:  # pg_waldump reads one timeline per call
                    basebackup.check_archive_readable(waldump, leg, ends_in_partial=bool(leg) and leg[-1] in partial_tail)
                if target_at is not None:
                    archive.check_target_reachable(as_read, backup, target_at, ctx.installation.tool("pg_waldump"), segments)
        if as_read:
            with result.step("restore", "copy the archive's WAL for this backup into the scratch cluster's archive"):
                started = time.perf_counter()
                copied = archive.copy_archive_in(cluster, as_read, backup)
                result.facts.update(archive_files_copied=copied, archive_copy_seconds=round(time.perf_counter() - started, 3))
        t0 = time.time() - tool_seconds  # the checks since are the drill's own, outside the recovery time
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
        t1 = start_and_prove(ctx, result, cluster, backup, target=target_at, timeline=recovery_timeline,
                             dbname="postgres")
        result.rto_seconds = round(t1 - t0, 3)
        result.facts["subscriptions_disabled"] = disable_subscriptions(cluster)
        result.facts["tablespaces"] = dict(cluster.query(  # each inside the copy's data directory (contract)
            "SELECT spcname, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT LIKE 'pg\\_%'"))
        with result.step("verify", "the restored server, its archiving target, and the source left untouched"):
            result.checks.append(run_check("no production login reaches the copy over the network",
                                           lambda: check_isolated(cluster)))
            check_source_untargeted(result, cluster, source_markers)
            dbname = (manifest or {}).get("database")
            if dbname:
                check_restored(result, cluster, dbname, manifest)
            mtimes = repository_mtimes if repository_mtimes is not None else (
                {compression.plain_name(p.name): p.stat().st_mtime for p in wal_archive.iterdir()} if wal_archive else {})
            check_physical_freshness(result, original.path, manifest, base_interval, mtimes, backup)
            for path in sources:
                if fingerprint(path) != before[str(path)]:
                    result.find("SOURCE_MODIFIED", f"files under {path} changed during the restore test")

    return execute(result, body, ctx)
