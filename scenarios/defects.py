"""Runbook defects, proved: each probe runs the runbook's literal command once in a scratch cluster
and reports what PostgreSQL 16 really does, with the fix the corrected scenarios use.

A probe returns a RunbookDefect when the literal variant fails or misleads as described, and None
when it does not reproduce (then the runbook is right on this installation). Probes never touch
the clusters of the corrected scenarios: they make their own, small (PROBE_SCALE) whatever the drill's
--seed-scale, since none of their points depends on the data's size. The one that does (the HNSW build
outgrowing the server's memory) is proved from the knee measured on the small cluster and the drill's own
vector count; the runbook's literal restore at the drill's full size runs only with --literal-restore.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pgdrill.fixtures.contract import Cluster, ClusterError
from pgdrill.fixtures.readiness import wait_until_writable
from pgdrill.fixtures.seed import APP_ROLE, DATABASE
from pgdrill.fixtures.wait import poll
from pgdrill.fixtures.writer import AckWriter
from pgdrill.scenarios.backups import basebackup, wal
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.backup import archived_end_lsn
from pgdrill.scenarios.verdicts.hnsw import measure_knee, spilled_builds
from pgdrill.scenarios.verdicts.result import RunbookDefect

RUNBOOK_CHECKLIST_SQL = """
SELECT schemaname, tablename,
  pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename)) as size,
  (SELECT COUNT(*) FROM pg_class WHERE relname = tablename) as tables
FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"""


PROBE_SCALE = 0.1  # the seed scale of the probes' clusters (the default drill's): seconds, not minutes, to copy


def probe_scale(seed_scale: float) -> float:
    """The probes' seed scale: PROBE_SCALE, or the drill's own when that is smaller (no second seeding)."""
    return min(seed_scale, PROBE_SCALE)


@dataclass
class ProbeContext:
    """make_cluster makes the probes' small clusters; data_vectors is how many vectors the drill's own data has
    (what the HNSW knee is compared with); full_size, given with --literal-restore, makes a cluster at the drill's
    full size for the runbook's literal restore."""

    make_cluster: Callable[..., Cluster]
    workdir: Path
    data_vectors: int = 0
    full_size: Callable[..., Cluster] | None = None


def one_line(text: object, limit: int = 240) -> str:
    return " ".join(str(text).split())[:limit]


def restored_copy(ctx: ProbeContext, name: str, *, with_pg_wal: bool = True, archive: Path | None = None):
    """A seeded cluster, base-backed-up, crashed, wiped and extracted again (not yet configured or started).

    Returns (cluster, backup). `archive` replaces the cluster's own archive in restore_command.
    """
    cluster = ctx.make_cluster(name)
    backup = basebackup.take(cluster, ctx.workdir / f"{name}-base")
    cluster.crash()
    cluster.wipe_data()
    basebackup.extract(cluster, backup, with_pg_wal=with_pg_wal)
    return cluster, backup


def touch_signal(cluster: Cluster, name: str) -> None:
    cluster.write_data_file(name, "")


def start_outcome(cluster: Cluster, timeout: float = 30) -> str:
    """Start without waiting; return the startup's FATAL lines, or '' once the server answers.

    Our own connection attempts add "the database system is starting up" FATALs: those are not it.
    """
    log_from = cluster.log_size()
    cluster.start(wait=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.is_running():
            fatal = [line for line in cluster.log_since(log_from).splitlines()
                     if "FATAL" in line and "the database system is" not in line]
            return " | ".join(fatal) or "the server exited without a FATAL line"
        try:
            cluster.scalar("SELECT 1")
            return ""
        except psycopg.Error:
            time.sleep(0.1)
    return "no answer within the timeout"


# ----- the probes ----------------------------------------------------------------------------------
def recovery_conf(ctx: ProbeContext) -> list[RunbookDefect]:
    cluster, _ = restored_copy(ctx, "defect-recovery-conf")
    touch_signal(cluster, "recovery.signal")
    cluster.write_data_file("recovery.conf", f"restore_command = '{cluster.runbook_restore_command()}'\n"
                                             "recovery_target_action = 'promote'\n")
    fatal = start_outcome(cluster)
    if "recovery.conf" not in fatal:
        return []
    return [RunbookDefect("RECOVERY_CONF_UNSUPPORTED", "physical_restore",
                          "Scenario 2 step 5 writes recovery.conf: PostgreSQL 12+ refuses to start when it exists",
                          "append restore_command to postgresql.auto.conf and create recovery.signal",
                          one_line(fatal))]


def auto_conf_overwritten(ctx: ProbeContext) -> list[RunbookDefect]:
    cluster, _ = restored_copy(ctx, "defect-auto-conf")
    before = [line for line in cluster.read_data_file("postgresql.auto.conf").splitlines()
              if line and not line.startswith("#")]
    cluster.write_data_file("postgresql.auto.conf", f"restore_command = '{cluster.runbook_restore_command()}'\n"
                            "recovery_target_action = 'promote'\n")  # the runbook's `cat >`, target left out
    touch_signal(cluster, "recovery.signal")
    if start_outcome(cluster, timeout=60):
        return []
    wait_until_writable(cluster, "postgres", timeout=60)
    mode, command = cluster.scalar("SHOW archive_mode"), cluster.scalar("SHOW archive_command")
    if mode == "on" and command:
        return []
    return [RunbookDefect("AUTO_CONF_OVERWRITTEN", "pitr",
                          "Scenario 3 step 3 `cat >` postgresql.auto.conf wipes the ALTER SYSTEM settings restored with "
                          "the backup: the promoted server no longer archives WAL",
                          "append with >>; after promotion ALTER SYSTEM RESET restore_command and recovery_target_*",
                          f"restored with the backup: {'; '.join(before)[:200]}; after promotion: archive_mode={mode}, "
                          f"archive_command={command!r}")]


def slow_checkpoint(ctx: ProbeContext, wait_seconds: float = 5) -> list[RunbookDefect]:
    """Run the literal pg_basebackup; after wait_seconds, read its phase and end it server-side.

    A spread checkpoint paces its writes to end at checkpoint_completion_target x checkpoint_timeout whatever
    there is to write, so a few seconds against the fast backup's fraction of one already tell them apart.

    pg_terminate_backend stops the backup cleanly on every backend (killing a `docker exec` client
    is not reliable: the process inside the container lives on).
    """
    cluster = ctx.make_cluster("defect-basebackup")
    cluster.query("UPDATE tasks SET state = state", dbname=DATABASE)  # dirty buffers, as a live server has
    def run_literal() -> None:
        try:
            cluster.basebackup(ctx.workdir / "slow", fast=False, timeout=wait_seconds + 120)
        except (ClusterError, subprocess.TimeoutExpired):
            pass  # ended on purpose below

    literal = threading.Thread(target=run_literal, daemon=True)
    started = time.perf_counter()
    literal.start()
    literal.join(wait_seconds)
    phase = cluster.query("SELECT pid, phase FROM pg_stat_progress_basebackup")
    if not literal.is_alive() or not phase:
        return []  # finished in time: a checkpoint happened to come
    waited = time.perf_counter() - started
    cluster.query("SELECT pg_terminate_backend(pid) FROM pg_stat_progress_basebackup")
    literal.join(60)
    fast = basebackup.take(cluster, ctx.workdir / "fast")
    return [RunbookDefect("BASEBACKUP_SLOW_CHECKPOINT", "physical_restore",
                          "`pg_basebackup -Ft -z -P` waits for a spread checkpoint (checkpoint_completion_target x "
                          "checkpoint_timeout, about 4.5 min by default) before copying anything",
                          "add --checkpoint=fast",
                          f"after {waited:.0f} s the literal command was still in phase '{phase[0][1]}' (ended "
                          f"with pg_terminate_backend); with --checkpoint=fast the same backup took {fast.seconds:.1f} s")]


def recovery_functions(ctx: ProbeContext) -> list[RunbookDefect]:
    """Troubleshooting: pg_current_wal_lsn() during recovery, and pg_wal_replay_resume() as a 'skip'."""
    defects = []
    cluster, _ = restored_copy(ctx, "defect-standby")
    cluster.write_auto_conf({"restore_command": cluster.runbook_restore_command()}, append=True)
    touch_signal(cluster, "standby.signal")
    cluster.start()
    poll(lambda: cluster.scalar("SELECT pg_last_wal_replay_lsn() IS NOT NULL"),
                    what="the standby to replay", timeout=60, suppress=(psycopg.Error,))
    try:
        cluster.query("SELECT pg_last_wal_replay_lsn(), pg_current_wal_lsn()")
    except psycopg.Error as exc:
        defects.append(RunbookDefect(
            "CURRENT_LSN_DURING_RECOVERY", "troubleshooting",
            "'Slow recovery: SELECT pg_last_wal_replay_lsn(), pg_current_wal_lsn()' errors while recovering",
            "use pg_last_wal_replay_lsn(), pg_get_wal_replay_pause_state(), pg_stat_recovery_prefetch",
            one_line(exc)))
    before = cluster.scalar("SELECT pg_last_wal_replay_lsn()::text")
    cluster.query("SELECT pg_wal_replay_resume()")
    time.sleep(1)
    after, recovering = cluster.scalar("SELECT pg_last_wal_replay_lsn()::text"), cluster.scalar("SELECT pg_is_in_recovery()")
    if after == before and recovering:
        primary = ctx.make_cluster("defect-primary", seeded=False)
        try:
            primary.query("SELECT pg_wal_replay_resume()")
            on_primary = "no error on a primary"
        except psycopg.Error as exc:
            on_primary = one_line(exc)
        defects.append(RunbookDefect(
            "REPLAY_RESUME_MISDESCRIBED", "troubleshooting",
            "'Skip to latest available WAL: pg_wal_replay_resume()' only clears a pause; it cannot skip missing WAL",
            "describe it as resuming a paused recovery; missing WAL cannot be skipped",
            f"on a server waiting for WAL: replay LSN {before} before and {after} after, still in recovery; "
            f"on a primary: {on_primary}"))
    return defects


def exposure_seconds(cluster: Cluster, writer: AckWriter) -> tuple[float, int]:
    """How long acknowledged commits have lived only in pg_wal (not archived), and how many there are."""
    end = archived_end_lsn(cluster)
    pending = [a for a in writer.acks if wal.parse_lsn(a.lsn) >= end]
    return (time.time() - pending[0].acked_at if pending else 0.0), len(pending)


def archive_timeout_rpo(ctx: ProbeContext, seconds: float = 6, rate: float = 5) -> list[RunbookDefect]:
    """The same load for the same seconds on two clusters at once, archive_timeout 0 (the runbook's) and 2s: the worst
    exposure of acknowledged commits that live only in pg_wal, side by side."""
    clusters, writers = {}, {}
    for timeout in ("0", "2s"):
        cluster = clusters[timeout] = ctx.make_cluster(f"defect-archive-timeout-{timeout}")
        cluster.query(f"ALTER SYSTEM SET archive_timeout = '{timeout}'")
        cluster.query("SELECT pg_reload_conf()")
        archiving.switch_and_wait(cluster)
    try:
        for timeout, cluster in clusters.items():
            writers[timeout] = AckWriter(cluster, DATABASE, rate=rate).start()
        results = {timeout: (0.0, 0) for timeout in clusters}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # the worst exposure seen while the load runs
            time.sleep(0.25)
            for timeout, cluster in clusters.items():
                results[timeout] = max(results[timeout], exposure_seconds(cluster, writers[timeout]))
    finally:
        for writer in writers.values():
            writer.stop()
    (unbounded, count0), (bounded, _) = results["0"], results["2s"]
    if unbounded < seconds * 0.8:
        return []
    return [RunbookDefect("RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT", "pitr",
                          "'Continuous WAL Archiving: RPO < 5 minutes' with no archive_timeout: only full segments are "
                          "archived, so at low traffic the RPO is unbounded",
                          "set archive_timeout (e.g. 60 s: RPO about 60 s plus the copy, if the archive survives)",
                          f"{rate:.0f} tx/s for {seconds:.0f} s: with archive_timeout=0, {count0} acknowledged commits "
                          f"({unbounded:.1f} s of them, still growing) existed only in pg_wal; with archive_timeout=2s "
                          f"the worst exposure was {bounded:.1f} s")]


def drop_database_in_use(ctx: ProbeContext) -> list[RunbookDefect]:
    cluster = ctx.make_cluster("defect-drop-in-use")
    with cluster.connect(DATABASE):
        out = cluster.tool("psql", "-X", "-c", f"DROP DATABASE IF EXISTS {DATABASE};", check=False)
    if "being accessed by other users" not in out.stderr:
        return []
    return [RunbookDefect("DROP_DATABASE_IN_USE", "logical_restore",
                          "Scenario 1 step 2 `DROP DATABASE IF EXISTS` fails while anything is still connected",
                          "DROP DATABASE ... WITH (FORCE), from the postgres database", one_line(out.stderr))]


def hnsw_spilled(target: Cluster, server_log: str, seconds: float) -> list[RunbookDefect]:
    """HNSW_RESTORE_MEMORY, when the literal restore's HNSW build outgrew the server's maintenance_work_mem.

    Only a database past the knee shows it (about 77k of the seeder's vectors at the default 64MB, seed
    scale 2 and up); below it the probe says so (its Probe.size_dependent)."""
    spilled = spilled_builds(server_log)
    if not spilled:
        return []
    return [hnsw_restore_memory(target, "the graph outgrew it and the build went on on disk",
                                f"{one_line(spilled[0])}; the literal restore took {seconds:.0f} s")]


def hnsw_restore_memory(cluster: Cluster, what: str, evidence: str) -> RunbookDefect:
    """HNSW_RESTORE_MEMORY, with the server's maintenance_work_mem that the literal restore gets."""
    memory = cluster.scalar("SHOW maintenance_work_mem")
    return RunbookDefect("HNSW_RESTORE_MEMORY", "logical_restore",
                         f"Scenario 1's pg_restore builds the HNSW index with the server's maintenance_work_mem "
                         f"({memory}): {what}, several times slower",
                         "PGOPTIONS='-c maintenance_work_mem=<RAM share> -c max_parallel_maintenance_workers=<cores>' "
                         "pg_restore ... (the drill's --restore-memory)", evidence)


def hnsw_past_knee(source: Cluster, vectors: int) -> list[RunbookDefect]:
    """HNSW_RESTORE_MEMORY from the knee: a 1MB build on the source's vectors says how many vectors of graph the
    server's maintenance_work_mem holds (the literal restore gets nothing else); past it, the build spills.

    The knee measured at 1MB predicts a real 64MB build's spill within 1% on these machines (tests/test_hnsw.py)."""
    knee = measure_knee(source, "server") if vectors else None
    if knee is None:
        return []
    holds = knee.memory_bytes / knee.graph_bytes_per_vector
    if vectors <= holds:
        return []
    return [hnsw_restore_memory(
        source, "this data's graph outgrows it and the build goes on on disk",
        f"measured: a build at maintenance_work_mem=1MB spilled after {2**20 / knee.graph_bytes_per_vector:.0f} "
        f"vectors ({knee.graph_bytes_per_vector:.0f} bytes of graph each), so {knee.memory_bytes // 2**20}MB holds about "
        f"{holds:,.0f}; the drill's data has {vectors:,} vectors in goals (proved from the knee: --literal-restore "
        "runs the literal restore at full size)")]


def restore_without_roles(ctx: ProbeContext) -> list[RunbookDefect]:
    source = (ctx.full_size or ctx.make_cluster)("defect-dump-source")
    dump = ctx.workdir / "roles.dump"
    source.tool("pg_dump", "-Fc", "-d", DATABASE, stdout_path=dump)
    target = ctx.make_cluster("defect-fresh", seeded=False)
    target.query(f"CREATE DATABASE {DATABASE}")
    target.query("ALTER SYSTEM SET log_min_messages = notice")  # pgvector's spill notice reaches the log
    target.query("SELECT pg_reload_conf()")
    log_from = target.log_size()
    # the runbook's literal: pg_restore -U postgres -d agentic_platform -v < dump
    started = time.monotonic()
    out = target.tool("pg_restore", "-U", "postgres", "-d", DATABASE, "-v", stdin_path=dump, check=False)
    defects = (hnsw_spilled(target, target.log_since(log_from), time.monotonic() - started) if ctx.full_size
               else hnsw_past_knee(source, ctx.data_vectors))
    role_errors = [line for line in out.stderr.splitlines() if f'role "{APP_ROLE}" does not exist' in line]
    if role_errors:
        defects.append(RunbookDefect("ROLES_NOT_IN_DUMP", "logical_restore",
                                     "Scenario 1 restores only pg_dump output: roles are not in it, so ownership and "
                                     "grants fail on a new server", "take pg_dumpall --globals-only with each backup "
                                     "and restore it first", one_line(role_errors[0])))
    ignored = re.search(r"errors ignored on restore: (\d+)", out.stderr)
    if out.returncode != 0 and ignored:
        defects.append(RunbookDefect("RESTORE_ERRORS_IGNORED", "logical_restore",
                                     "`pg_restore -v` carries on after errors and the runbook never checks its exit code",
                                     "pg_restore --exit-on-error, and judge exit code and stderr together",
                                     f"exit {out.returncode}; {ignored.group(0)}"))
    return defects


def table_dump_dependencies(ctx: ProbeContext) -> list[RunbookDefect]:
    source = ctx.make_cluster("defect-tables-source")
    out = source.tool("pg_dump", "-U", "postgres", "-t", "agents", "-t", "goals", DATABASE)
    target = ctx.make_cluster("defect-tables-target", seeded=False)
    target.query("CREATE DATABASE scratch")
    sql = ctx.workdir / "tables.sql"
    sql.write_text(out.stdout)
    load = target.tool("psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", "scratch", stdin_path=sql, check=False)
    if load.returncode == 0:
        return []
    error = next((line for line in load.stderr.splitlines() if "ERROR" in line), load.stderr)
    return [RunbookDefect("TABLE_DUMP_MISSES_DEPENDENCIES", "logical_restore",
                          "`pg_dump -t agents -t goals` omits what those tables depend on (CREATE EXTENSION vector, "
                          "roles, referenced tables): it does not restore into a clean database",
                          "document it as a partial export; restore it only into a database that has the dependencies",
                          one_line(error))]


def checklist_cannot_fail(ctx: ProbeContext) -> list[RunbookDefect]:
    cluster = ctx.make_cluster("defect-checklist")
    before = cluster.query(RUNBOOK_CHECKLIST_SQL, dbname=DATABASE)
    cluster.query("DELETE FROM tasks", dbname=DATABASE)
    after = cluster.query(RUNBOOK_CHECKLIST_SQL, dbname=DATABASE)
    if before != after:
        return []
    return [RunbookDefect("CHECKLIST_CANNOT_FAIL", "checklist",
                          "the runbook's integrity query reports the same after every row of tasks is deleted: "
                          "`(SELECT COUNT(*) FROM pg_class WHERE relname = tablename)` is always 1 and sizes do not "
                          "shrink; 'check for any corruption' only sums database sizes",
                          "compare row counts and content hashes with a snapshot; pg_checksums, pg_verifybackup, amcheck",
                          f"identical output before and after DELETE FROM tasks: {before}")]


def sqlalchemy_string_execute(ctx: ProbeContext) -> list[RunbookDefect]:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ObjectNotExecutableError
    cluster = ctx.make_cluster("defect-sqlalchemy", seeded=False)
    engine = create_engine(cluster.sqlalchemy_url("postgres"))
    try:
        with engine.connect() as conn:
            conn.execute("SELECT 1")  # type: ignore[call-overload]  # the runbook's L01 connection test, verbatim
        return []
    except ObjectNotExecutableError as exc:
        return [RunbookDefect("SQLALCHEMY2_STRING_EXECUTE", "checklist",
                              "the application connectivity test `conn.execute('SELECT 1')` fails on SQLAlchemy 2",
                              "conn.execute(text('SELECT 1'))", f"{type(exc).__name__}: {one_line(exc, 160)}")]
    finally:
        engine.dispose()


def pg_wal_tar_ignored(ctx: ProbeContext) -> list[RunbookDefect]:
    cluster, _ = restored_copy(ctx, "defect-pg-wal", with_pg_wal=False)
    cluster.write_auto_conf({"restore_command": "/bin/false"}, append=True)  # the backup's WAL not archived yet
    touch_signal(cluster, "recovery.signal")
    fatal = start_outcome(cluster)
    if "could not locate required checkpoint record" not in fatal:
        return []
    return [RunbookDefect("PG_WAL_TAR_IGNORED", "physical_restore",
                          "Scenario 2 extracts only base.tar.gz; -Ft -z also writes pg_wal.tar.gz, without which the "
                          "server cannot start unless the backup's WAL was already archived",
                          "extract pg_wal.tar.gz into $PGDATA/pg_wal (owned by postgres, mode 700)", one_line(fatal))]


def archive_command_not_durable(ctx: ProbeContext, wait: float = 4) -> list[RunbookDefect]:
    cluster = ctx.make_cluster("defect-archive-command")
    segment = cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")
    cluster.write_archive_file(segment, b"\0" * 1024 * 1024)  # a copy cut short by a crash, under the final name
    cluster.query("CREATE TABLE IF NOT EXISTS durable_probe (n int)", dbname=DATABASE)
    cluster.scalar("SELECT pg_switch_wal()")
    time.sleep(wait)
    stats = archiving.archiver_stats(cluster)
    if not stats["failed_count"]:
        return []
    return [RunbookDefect("ARCHIVE_COMMAND_NOT_DURABLE", "wal_archiving",
                          "`test ! -f ... && cp %p ...` does not fsync; a copy cut short by a crash leaves a truncated "
                          "segment under the final name, and every retry then fails until pg_wal fills the disk",
                          "archive_library = 'basic_archive', or a script that copies to a temp name, syncs and renames, "
                          "and treats an identical existing file as success",
                          f"after a 1 MiB partial {segment} in the archive: failed_count={stats['failed_count']} in "
                          f"{wait:.0f} s, last_failed_wal={stats['last_failed_wal']}, the segment is never archived")]


@dataclass(frozen=True)
class Probe:
    """One probe: the function that runs the runbook's literal commands, the defects it proves at any size, and
    those it proves only where the drill's data is large enough (below that size: "not reproduced")."""

    name: str
    run: Callable[[ProbeContext], list[RunbookDefect]]
    proves: tuple[str, ...]
    size_dependent: tuple[str, ...] = ()


PROBES: tuple[Probe, ...] = (
    Probe("recovery_conf", recovery_conf, ("RECOVERY_CONF_UNSUPPORTED",)),
    Probe("auto_conf_overwritten", auto_conf_overwritten, ("AUTO_CONF_OVERWRITTEN",)),
    Probe("pg_wal_tar_ignored", pg_wal_tar_ignored, ("PG_WAL_TAR_IGNORED",)),
    Probe("slow_checkpoint", slow_checkpoint, ("BASEBACKUP_SLOW_CHECKPOINT",)),
    Probe("recovery_functions", recovery_functions, ("CURRENT_LSN_DURING_RECOVERY", "REPLAY_RESUME_MISDESCRIBED")),
    Probe("archive_timeout_rpo", archive_timeout_rpo, ("RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT",)),
    Probe("archive_command_not_durable", archive_command_not_durable, ("ARCHIVE_COMMAND_NOT_DURABLE",)),
    Probe("drop_database_in_use", drop_database_in_use, ("DROP_DATABASE_IN_USE",)),
    Probe("restore_without_roles", restore_without_roles, ("ROLES_NOT_IN_DUMP", "RESTORE_ERRORS_IGNORED"),
          size_dependent=("HNSW_RESTORE_MEMORY",)),
    Probe("table_dump_dependencies", table_dump_dependencies, ("TABLE_DUMP_MISSES_DEPENDENCIES",)),
    Probe("checklist_cannot_fail", checklist_cannot_fail, ("CHECKLIST_CANNOT_FAIL",)),
    Probe("sqlalchemy_string_execute", sqlalchemy_string_execute, ("SQLALCHEMY2_STRING_EXECUTE",)),
)


class ProbeRuns:
    """Runs probes, each with a work directory and clusters of its own that are removed when it ends.

    start() sets probes going together in threads: they mostly wait on PostgreSQL (a spread checkpoint's pace,
    archive_timeout, DROP DATABASE's five seconds), so side by side they take little more than the slowest.
    result() returns a started probe's defects (or its exception), or runs an unstarted one now."""

    def __init__(self, make: Callable[..., Cluster], discard: Callable[[Cluster], object], workdir: Path,
                 data_vectors: int, full_size: Callable[..., Cluster] | None = None, workers: int = 4) -> None:
        self.make, self.discard, self.workdir = make, discard, workdir
        self.data_vectors, self.full_size = data_vectors, full_size
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pgdrill-probe")
        self.started: dict[str, Future[list[RunbookDefect]]] = {}

    def start(self, probes: list[Probe]) -> None:
        for probe in probes:
            self.started[probe.name] = self.pool.submit(self.run, probe)

    def result(self, probe: Probe) -> list[RunbookDefect]:
        started = self.started.pop(probe.name, None)
        return started.result() if started is not None else self.run(probe)

    def run(self, probe: Probe) -> list[RunbookDefect]:
        made: list[Cluster] = []

        def track(make: Callable[..., Cluster]) -> Callable[..., Cluster]:
            def made_here(*args, **kwargs) -> Cluster:
                made.append(make(*args, **kwargs))
                return made[-1]
            return made_here
        workdir = self.workdir / probe.name
        workdir.mkdir(mode=0o700)
        try:
            return probe.run(ProbeContext(track(self.make), workdir, self.data_vectors,
                                          track(self.full_size) if self.full_size else None))
        finally:
            for cluster in made:
                self.discard(cluster)

    def close(self) -> None:
        """Wait for what runs (its clusters go with it); what has not started never will."""
        self.pool.shutdown(wait=True, cancel_futures=True)
