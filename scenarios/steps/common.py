"""What every scenario shares: its context, the workload around the disaster, and the final judging."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pgdrill.fixtures import cost
from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.installation import Installation
from pgdrill.fixtures.progress import QUIET, Progress
from pgdrill.fixtures.seed import DATABASE
from pgdrill.fixtures.writer import AckWriter, commit_times, surviving
from pgdrill.scenarios.proofs import checklist
from pgdrill.scenarios.proofs.checksums import checksums_offline
from pgdrill.scenarios.proofs.measure import measure_rpo
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.steps.faults import Faults
from pgdrill.scenarios.verdicts.checks import Check, NotRun, run_check
from pgdrill.scenarios.verdicts.result import WARNING, DrillFailure, ScenarioResult
from pgdrill.scenarios.verdicts.targets import Target


@dataclass
class DrillContext:
    """Everything a scenario needs from outside: where clusters come from, targets, knobs, faults.

    faults holds the typed hooks the self-tests use to break recovery on purpose (scenarios/steps/faults.py).
    """

    make_cluster: Callable[..., Cluster]
    installation: Installation
    workdir: Path
    targets: dict[str, Target]
    backend: str = "local"
    writer_rate: float = 20.0
    load_seconds: float = 1.5
    restore_delay: float = 0.0  # --throttle-restore: a slowed restore, to prove the slowdown gate fails
    archive_timeout: float = 60.0  # the runbook corrected; 0 is the runbook as written
    dump_inserts: bool = False  # --dump-inserts: Scenario 1's dump as INSERTs, a restore that does more work
    restore_jobs: int = 1  # --restore-jobs: pg_restore -j N in Scenario 1
    restore_memory: str = "auto"  # --restore-memory: maintenance_work_mem of Scenario 1's pg_restore session
    max_expansion: float = 200.0  # --max-expansion: a compressed backup file's bound, as a multiple of its size
    progress: Progress = QUIET  # live lines for long steps (terminal only)
    health_urls: tuple[str, ...] = ()  # the dependent services' /health, asked by the checklist
    database: str = DATABASE  # the platform database the workload writes to and the judge reads (a runbook's own name)
    read_back: archiving.ReadBack | None = None  # WAL kept where no listing shows it (a backup tool's repository)
    faults: Faults = field(default_factory=Faults)
    closers: list[Callable[[], object]] = field(default_factory=list)

    def result(self, scenario_id: str, number: int) -> ScenarioResult:
        target = self.targets[scenario_id]
        result = ScenarioResult(scenario_id, number, self.backend, target.rto_seconds, target.rpo_seconds)
        result.facts["targets_from"] = {"rto": target.rto_from, "rpo": target.rpo_from}  # a runbook's line, or not
        return result


def beside(ctx: DrillContext, name: str, work: Callable[[], T]) -> Future[T]:
    """Work that only reads what the next steps do not write, in a thread beside them (two cores); its result is
    taken where it is needed, and the scenario's end waits for it whatever happens: nothing outlives the scenario."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pgdrill-{name}")
    future = pool.submit(work)
    pool.shutdown(wait=False)
    ctx.closers.append(lambda: wait([future]))
    return future


def keep_writing(seconds: float) -> None:
    """Let the workload write on its own for a while (markers on both sides of a backup): the drill's own wait."""
    with cost.drill("workload: writes around the backup"):
        time.sleep(seconds)


T = TypeVar("T")


class Workload:
    """The ack-tracking writer around a disaster: started early, stopped and sampled just before it."""

    def __init__(self, ctx: DrillContext, cluster: Cluster) -> None:
        self.cluster = cluster
        self.database = ctx.database
        self.writer = AckWriter(cluster, self.database, rate=ctx.writer_rate).start()
        ctx.closers.append(self.writer.stop)  # a scenario that breaks midway still stops its writer
        self.commit_ts: dict[int, float] = {}
        self.acked: set[int] = set()
        self.lsn: dict[int, str] = {}

    def stop_and_sample(self) -> None:
        """Stop writing and read each acknowledged marker's commit time while the server still lives."""
        acks = self.writer.stop()
        if self.writer.errors:
            raise DrillFailure("WORKLOAD_FAILED", f"the ack writer failed before the disaster: {self.writer.errors[-1]}")
        self.acked = {a.seq for a in acks}
        self.lsn = {a.seq: a.lsn for a in acks}
        times = commit_times(self.cluster, self.database)
        self.commit_ts = {seq: times[seq] for seq in self.acked}

    def judge(self, result: ScenarioResult, recovered, acked: set[int] | None = None) -> set[int]:
        """Set RPO and lost transactions on the result; return the seqs present after recovery."""
        present = surviving(recovered, self.database)
        considered = self.acked if acked is None else acked
        rpo = measure_rpo({s: self.commit_ts[s] for s in considered}, considered, present)
        result.rpo_seconds = rpo.rpo_seconds
        result.lost_acknowledged_transactions = len(rpo.lost)
        result.facts.update(acknowledged=rpo.acknowledged, survivors=rpo.survivors,
                            lost_range=[rpo.lost[0], rpo.lost[-1]] if rpo.lost else None)
        if rpo.lower_bound:
            result.find("RPO_LOWER_BOUND", f"every acknowledged marker was lost: RPO is at least {rpo.rpo_seconds} s "
                                           "(it reaches back before the workload started)", WARNING)
        return present


def execute(result: ScenarioResult, body: Callable[[ScenarioResult], None], ctx: DrillContext) -> ScenarioResult:
    """Run a scenario body; turn whatever breaks into the result's failure and findings; judge it.

    Every exception becomes a failed result (a scenario is never silently missing from the
    summary); KeyboardInterrupt still propagates, after the writers are stopped.
    """
    try:
        body(result)
    except DrillFailure as exc:
        result.failure = str(exc)
        result.find(exc.code, str(exc))
    except NotRun as exc:  # the scenario cannot run here (a tool this installation lacks): said, never passed
        result.facts["not_run"], result.rto_seconds = str(exc), None
    except Exception as exc:  # noqa: BLE001 - reported, with its type, as the scenario's failure
        result.failure = f"{type(exc).__name__}: {exc}"
    finally:
        while ctx.closers:
            ctx.closers.pop()()
    result.judge()
    return result


@cost.drill("recovery verification checklist")
def verify_all(ctx: DrillContext, result: ScenarioResult, cluster: Cluster, snapshot, *, physical: bool,
               old_timeline: int | None, backup_check: Check | None) -> None:
    """The whole checklist; a corrupt page found offline becomes its own finding too."""
    started = time.perf_counter()
    checks = checklist.verify(cluster, snapshot, ctx.installation, ctx.health_urls, physical=physical)
    if physical:
        checks.append(checksums_offline(cluster))
    else:
        checks.append(Check("data checksums (pg_checksums --check, offline)", "not_run",
                            "a logical restore rewrites every page; pg_checksums applies to physical restores"))
    checks.append(backup_check or Check("base backup verified (pg_verifybackup)", "not_run",
                                        "no base backup in a logical restore"))
    checks.append(run_check("WAL archiving after recovery",
                            lambda: archiving.verify_after_recovery(cluster, old_timeline, read_back=ctx.read_back)))
    result.checks.extend(checks)
    result.verification_seconds = round(time.perf_counter() - started, 3)
