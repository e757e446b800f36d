"""The drill-cost ledger: every moment of a test belongs to exactly one name, the outermost mark's."""

from __future__ import annotations

import threading

import pytest

from pgdrill.fixtures import cost


class Clock:
    """A stub of time.perf_counter that advances only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger():
    clock = Clock()
    return cost.Ledger(clock), clock


def test_the_outermost_mark_owns_the_time_and_the_rest_is_unnamed(ledger):
    book, clock = ledger
    clock.now += 1  # fixtures, before any mark
    with book.mark(cost.POSTGRES, "seeding"):
        clock.now += 5
        with book.mark(cost.POSTGRES, "server start"):  # inside seeding: seeding's
            clock.now += 2
    with book.mark(cost.DRILL, "runbook-defect probe x"):
        with book.mark(cost.POSTGRES, "pg_basebackup"):  # a probe's backup is the probe's cost
            clock.now += 3
    account = book.account()
    assert account == {"wall_seconds": 11.0, "postgres": {"seeding": 7.0},
                       "drill": {"runbook-defect probe x": 3.0, cost.UNNAMED: 1.0}}


def test_other_threads_do_not_add_time(ledger):
    book, clock = ledger
    def beside() -> None:
        with book.mark(cost.POSTGRES, "ack writer"):
            clock.now += 4
    thread = threading.Thread(target=beside)
    thread.start()
    thread.join()
    assert book.account() == {"wall_seconds": 4.0, "postgres": {}, "drill": {cost.UNNAMED: 4.0}}


def test_a_run_combines_its_tests_and_says_wall_seconds_per_postgres_second():
    run = cost.combine([{"wall_seconds": 10.0, "postgres": {"pg_restore": 6.0}, "drill": {"snapshot": 4.0}},
                        {"wall_seconds": 5.0, "postgres": {"pg_restore": 2.0, "server start": 2.0},
                         "drill": {"teardown": 1.0}}])
    assert run["wall_seconds"] == 15.0 and run["postgres_seconds"] == 10.0 and run["drill_seconds"] == 5.0
    assert run["wall_per_postgres_second"] == 1.5
    assert list(run["postgres"]) == ["pg_restore", "server start"]  # the largest first
    assert cost.combine([])["wall_per_postgres_second"] is None  # no PostgreSQL work: no ratio, not infinity


def test_a_window_accounts_for_its_block_alone(ledger):
    book, clock = ledger
    with book.mark(cost.POSTGRES, "seeding"):
        clock.now += 9  # before the window: not its
    with book.window() as account:
        with book.mark(cost.POSTGRES, "pg_restore"):
            clock.now += 2
        clock.now += 1
    assert account == {"wall_seconds": 3.0, "postgres": {"pg_restore": 2.0}, "drill": {cost.UNNAMED: 1.0}}
