"""A check's outcome: passed, failed, or not run (with why) — never a silent pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

PASSED, FAILED, NOT_RUN = "passed", "failed", "not_run"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""
    code: str = ""  # the finding code of a failure, when the check can name it

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    def as_dict(self) -> dict:
        return asdict(self)


def run_check(name: str, probe: Callable[[], str]) -> Check:
    """Run probe; its return is the pass detail, an AssertionError is a failure with its message.

    NotRun raised inside means the check could not run here; any other exception is a failure too,
    reported with its type so a crash never passes for a pass.
    """
    try:
        return Check(name, PASSED, probe() or "")
    except NotRun as exc:
        return Check(name, NOT_RUN, str(exc))
    except AssertionError as exc:
        return Check(name, FAILED, str(exc), getattr(exc, "code", ""))
    except Exception as exc:  # noqa: BLE001 - a check that crashed has failed, with its reason
        return Check(name, FAILED, f"{type(exc).__name__}: {exc}")


class NotRun(Exception):
    """Raised by a check that cannot run in this installation; the message says why."""


class CheckFailed(AssertionError):
    """A check's verdict that it failed, raised by require(): never an `assert`, which `python -O` removes."""


def require(ok: bool, message: str) -> None:
    """Fail the running check with message unless ok (a verdict that survives `python -O`)."""
    if not ok:
        raise CheckFailed(message)
