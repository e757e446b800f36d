"""What a scenario run produces: timed steps, checks, findings, RTO/RPO, and a failure reason.

A scenario never raises past its runner: whatever breaks becomes the result's `failure` (one
readable sentence) plus findings with stable codes, so a drill and a self-test assert on data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import allure

from pgdrill.fixtures.secret import redact, redact_tree
from pgdrill.scenarios.verdicts.checks import FAILED, NOT_RUN, PASSED, Check
from pgdrill.scenarios.verdicts.findings import defect_meaning, meaning

ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass(frozen=True)
class Finding:
    """A stable code, a severity and one line; tests assert codes, reports render messages."""

    code: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunbookDefect:
    """A place where the runbook's literal command fails or misleads, proved by running it."""

    code: str
    scenario: str
    message: str
    fix: str
    evidence: str = ""
    written_at: list[str] = field(default_factory=list)  # with --runbook: "line N: text" where the runbook writes it

    def __post_init__(self) -> None:
        defect_meaning(self.code)  # only registered codes, as for findings

    def as_dict(self) -> dict:
        return asdict(self)


class DrillFailure(AssertionError):
    """Recovery went wrong in a way the drill can name; carries the finding that names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        meaning(code)
        self.code = code


@dataclass
class StepRecord:
    name: str
    seconds: float
    status: str
    detail: str = ""


@dataclass
class ScenarioResult:
    """One scenario run, in the shape summary.json keeps."""

    id: str
    number: int
    backend: str
    rto_target_seconds: float
    rpo_target_seconds: float
    status: str = NOT_RUN
    failure: str | None = None
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    rpo_bound_seconds: float | None = None  # the worst loss the configuration allows (None: unbounded or not known)
    lost_acknowledged_transactions: int | None = None
    verification_seconds: float | None = None
    phases: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    runbook_defects: list[RunbookDefect] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)  # command output, log excerpts: Allure, not summary.json

    # ----- steps -----------------------------------------------------------------------------
    @contextmanager
    def step(self, label: str, title: str) -> Iterator[None]:
        """Time one runbook step, named "Scenario N · step M: title", as an Allure step too."""
        name = f"Scenario {self.number} · {label}: {title}"
        started = time.perf_counter()
        status, detail = PASSED, ""
        try:
            with allure.step(name):
                yield
        except BaseException as exc:
            status, detail = FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise
        finally:
            self.steps.append(StepRecord(name, round(time.perf_counter() - started, 3), status, detail))

    def find(self, code: str, message: str, severity: str = ERROR) -> None:
        meaning(code)  # only registered codes: a typo must not become a finding nobody tests
        self.findings.append(Finding(code, severity, message))

    def bound_rpo(self, seconds: float | None, basis: str) -> None:
        """Record the worst loss the configuration allows; None means unbounded, which fails the RPO verdict."""
        self.rpo_bound_seconds = round(seconds, 3) if seconds is not None else None
        self.facts["rpo_bound_basis"] = basis
        if seconds is None:
            self.find("RPO_UNBOUNDED", f"{self.id}: the loss this configuration allows has no bound: {basis}")

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    # ----- verdict ---------------------------------------------------------------------------
    def judge(self) -> None:
        """Set status from the failure, the checks and the targets; add RTO/RPO breach findings."""
        if self.rto_seconds is not None and self.rto_seconds > self.rto_target_seconds:
            self.find("RTO_BREACH", f"{self.id}: RTO {self.rto_seconds:.1f} s exceeds the target "
                                    f"{self.rto_target_seconds:.0f} s")
        if self.rpo_seconds is not None and self.rpo_seconds > self.rpo_target_seconds:
            self.find("RPO_BREACH", f"{self.id}: RPO {self.rpo_seconds:.1f} s exceeds the target "
                                    f"{self.rpo_target_seconds:.0f} s")
        if self.rpo_bound_seconds is not None and self.rpo_bound_seconds > self.rpo_target_seconds:
            self.find("RPO_BREACH", f"{self.id}: the configuration allows losing up to {self.rpo_bound_seconds:.1f} s "
                                    f"of commits, more than the RPO target {self.rpo_target_seconds:.0f} s")
        bad_checks = [c for c in self.checks if c.status == FAILED]
        for check in bad_checks:
            if check.code and check.code not in self.codes():
                self.find(check.code, f"{check.name}: {check.detail}")
        errors = [f for f in self.findings if f.severity == ERROR]
        if self.failure or bad_checks or errors:
            self.status = FAILED
        elif self.rto_seconds is None:
            self.status = NOT_RUN
        else:
            self.status = PASSED

    def explain(self) -> str:
        """Every reason this scenario did not pass, one per line (the drill's assertion message)."""
        lines = [f"{self.id} ({self.backend}): {self.status}"]
        if self.failure:
            lines.append(f"  failure: {self.failure}")
        lines += [f"  finding {f.code}: {f.message}" for f in self.findings if f.severity == ERROR]
        lines += [f"  check {c.name} failed: {c.detail}" for c in self.checks if c.status == FAILED]
        return redact("\n".join(lines))

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("evidence")
        data["checks"] = [c.as_dict() for c in self.checks]
        data["findings"] = [f.as_dict() for f in self.findings]
        data["runbook_defects"] = [d.as_dict() for d in self.runbook_defects]
        return redact_tree(data)  # what leaves for the summary: no secret of the run, whatever a script printed

    def evidence_redacted(self) -> dict[str, str]:
        """The evidence (server logs, command output) as Allure receives it: without the run's secrets."""
        return {name: redact(text) for name, text in self.evidence.items()}
