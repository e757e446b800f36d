"""The local cluster: ports never collide, teardown leaves nothing, a crashed run is swept."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from pgdrill.fixtures.runstate import NotOurs, RunDir, assert_ours, sweep_stale


def postmaster_pid(cluster) -> int:
    return int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])


def test_teardown_leaves_no_process_and_no_directory(cluster_factory):
    cluster = cluster_factory.new("teardown", seeded=False)
    pid, home = postmaster_pid(cluster), cluster.home
    children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    cluster_factory.discard(cluster)
    assert not home.exists()
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in [pid, *children])


def test_a_postmaster_that_exits_before_logging_is_told_at_once(cluster_factory):
    """A data directory without global/pg_control (an extraction cut short): the postmaster exits before its
    logging starts, with no FATAL; a recovery's start names that from the log at once, not after the spawn wait."""
    from pgdrill.scenarios.backups import basebackup
    from pgdrill.scenarios.verdicts.result import DrillFailure
    cluster = cluster_factory.new("no-pg-control", seeded=False)
    try:
        cluster.stop("fast")
        (cluster.data_dir / "global" / "pg_control").unlink()
        started = time.monotonic()
        with pytest.raises(DrillFailure) as raised:
            basebackup.start_recovery(cluster, "postgres", timeout=60)
        assert raised.value.code == "SERVER_DID_NOT_START" and "pg_control" in str(raised.value), str(raised.value)
        assert time.monotonic() - started < 15, "the postmaster's exit was waited out"
    finally:
        cluster_factory.discard(cluster)


def test_two_clusters_started_in_parallel_get_different_ports(cluster_factory):
    with ThreadPoolExecutor(2) as pool:
        clusters = list(pool.map(lambda n: cluster_factory.new(f"parallel{n}", seeded=False), range(2)))
    try:
        ports = {c.port for c in clusters}
        assert len(ports) == 2
        assert all(c.scalar("SELECT 1") == 1 for c in clusters)
    finally:
        for cluster in clusters:
            cluster_factory.discard(cluster)


def test_port_claims_are_exclusive_across_processes(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from pgdrill.fixtures.ports import claim_port
        print(" ".join(str(claim_port(Path({str(tmp_path)!r})).port) for _ in range(150)), flush=True)
        sys.stdin.read()  # hold the claims until the other process is done too (a dead owner's locks are stale)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    ports = [int(p) for proc in procs for p in proc.stdout.readline().split()]
    for proc in procs:
        proc.communicate(timeout=60)
    assert len(ports) == 300 and len(set(ports)) == 300


def test_destructive_steps_refuse_what_the_run_did_not_create(tmp_path, pgdrill_run):
    stranger = tmp_path / "someone-elses-cluster"
    stranger.mkdir()
    with pytest.raises(NotOurs, match="it has no pgdrill marker"):
        assert_ours(stranger, pgdrill_run.run_id)


@pytest.fixture
def runs_root(pgdrill_run):
    """A private runs root the server user can traverse (pytest's tmp_path is 0700 under root)."""
    root = pgdrill_run.path / "runs-root"
    root.mkdir(mode=0o755)
    return root


def test_killed_run_is_swept_at_next_start(runs_root):
    """A run killed with SIGKILL leaves a server and a directory; the next start's sweep removes both."""
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pgdrill.fixtures.config import resolve
        from pgdrill.fixtures.installation import discover
        from pgdrill.fixtures.runstate import RunDir
        from pgdrill.fixtures.factory import ClusterFactory, LocalDriver
        run = RunDir.create(Path({str(runs_root)!r}))
        cluster = ClusterFactory(LocalDriver(discover(resolve({{}}, {{}}, {{}})), run), 0.01).new("victim", seeded=False)
        print(run.path, open(cluster.data_dir / "postmaster.pid").read().split()[0], flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    run_path, pid = proc.stdout.readline().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert Path(run_path).exists() and psutil.pid_exists(int(pid))
    swept = sweep_stale(runs_root)
    assert swept == [Path(run_path)]
    assert not Path(run_path).exists()
    deadline = time.monotonic() + 10
    while psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the crashed run's postmaster survived the sweep"
        time.sleep(0.1)


def test_sweep_leaves_live_runs_alone(tmp_path):
    run = RunDir.create(tmp_path)
    assert sweep_stale(tmp_path) == []
    assert run.path.exists()
