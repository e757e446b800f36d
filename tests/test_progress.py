"""Live progress: lines while a long step runs, thinned when nothing new happens, never stuck behind a lock."""

from __future__ import annotations

import threading
import time

from pgdrill.fixtures.progress import Progress, copy_and_index, table_growth


def test_lines_name_the_step_and_thin_out_while_it_does_the_same_thing(make_cluster):
    cluster = make_cluster("progress", seeded=False)
    lines: list[str] = []
    progress = Progress(lines.append, interval=0.2, every=1.0)
    with progress.watch(cluster, "sleeping", lambda conn: "{} sessions asleep".format(*conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'").fetchone())):
        cluster.query("SELECT pg_sleep(2.5)")
    assert lines and all(line.startswith("  sleeping [") and line.endswith("1 sessions asleep") for line in lines)
    assert 2 <= len(lines) <= 4, lines  # about one a second, not one per 0.2 s question


def test_a_watcher_never_waits_behind_the_step_it_watches(make_cluster):
    cluster = make_cluster("progress-lock", seeded=False)
    cluster.query("CREATE TABLE big (id int)")
    lines: list[str] = []
    with cluster.connect() as holder:
        holder.autocommit = False
        holder.execute("LOCK TABLE big IN ACCESS EXCLUSIVE MODE")  # as the seeder's ALTER TABLEs held it
        started = time.monotonic()
        with Progress(lines.append, interval=0.2).watch(cluster, "seeding", table_growth(("big",))):
            time.sleep(1.5)
        holder.rollback()
    assert time.monotonic() - started < 3, "the watcher queued behind the lock"
    assert not [t for t in threading.enumerate() if t.name == "progress-seeding"]


def test_quiet_progress_asks_nothing():
    assert Progress(None).write is None
    with Progress(None).watch(None, "x", copy_and_index):  # no cluster needed: nothing is asked
        pass


def test_sizes_from_the_server_read_whatever_number_type_they_arrive_as():
    from decimal import Decimal

    from pgdrill.fixtures.progress import mb
    assert mb(Decimal("704645072")) == mb(704645072) == "705 MB"  # pg_lsn - pg_lsn is numeric
    assert mb(None) == "0 MB"
