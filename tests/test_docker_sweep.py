"""A drill killed outright (SIGKILL, mid-scenario) leaves containers and volumes; the next run sweeps them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgdrill.fixtures.docker_cluster import RUN_LABEL
from pgdrill.fixtures.docker_factory import PID_LABEL, live_leases, sweep_stale_docker
from pgdrill.fixtures.runstate import sweep_stale

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def ours(client, pid: int) -> tuple[list, list]:
    label = {"label": f"{PID_LABEL}={pid}"}
    return client.containers.list(all=True, filters=label, ignore_removed=True), client.volumes.list(filters=label)


def test_killed_drill_is_swept_by_the_next_run(drill_config):
    if drill_config.pg_backend != "docker":
        pytest.skip("not run: needs --pg-backend docker")
    from pgdrill.fixtures.plugin import docker_engine
    engine = docker_engine(drill_config)
    client = engine.client
    drill = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "drills/test_monthly.py", "-k", "physical",
         "--pg-backend", "docker", "--pg-image", drill_config.pg_image, "--docker-network", drill_config.docker_network,
         "--dr-report-dir", str(ROOT / "reports" / "out" / "killed-run")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not any(c.status == "running" and "s2-physical" in c.name for c in ours(client, drill.pid)[0]):
            assert drill.poll() is None, "the drill ended before it could be killed mid-scenario"
            assert time.monotonic() < deadline, "the drill never reached Scenario 2"
            time.sleep(0.2)
        os.killpg(drill.pid, signal.SIGKILL)
        drill.wait(timeout=30)
        deadline = time.monotonic() + 60
        while any(c.labels.get(RUN_LABEL) in live_leases(engine) for c in ours(client, drill.pid)[0]):
            assert time.monotonic() < deadline, "the killed run's lease outlived it"
            time.sleep(0.2)
        left_containers, left_volumes = ours(client, drill.pid)
        left_containers = [c for c in left_containers if c.name.startswith("pgdrill-")]  # not self-removing helpers
        assert left_containers and left_volumes, "a SIGKILLed run should have left its containers behind"

        swept = sweep_stale_docker(engine)  # what the next run does first (cluster factory, run dir fixture)
        swept_dirs = sweep_stale()

        assert {c.name for c in left_containers} <= set(swept)
        assert ours(client, drill.pid) == ([], [])
        killed_run = left_containers[0].labels[RUN_LABEL]
        assert killed_run in {d.name for d in swept_dirs}, "the killed run's directory was not swept"
    finally:
        if drill.poll() is None:
            os.killpg(drill.pid, signal.SIGKILL)
        sweep_stale_docker(engine)
        shutil.rmtree(ROOT / "reports" / "out" / "killed-run", ignore_errors=True)


HOLDER = """
import sys, types
from pgdrill.fixtures.docker_cluster import RUN_LABEL
from pgdrill.fixtures.docker_factory import PIDNS_LABEL, Lease, run_labels
from pgdrill.fixtures.engine import Engine
run_id, image, claimed_pidns = sys.argv[1:4]
engine = Engine.connect("")
lease = Lease(engine, run_id, image).take()
labels = {**run_labels(types.SimpleNamespace(run_id=run_id)), PIDNS_LABEL: claimed_pidns}
engine.client.volumes.create(f"pgdrill-{run_id[-8:]}-held", labels=labels)
print("ready", flush=True)
sys.stdin.read()
lease.release()
"""
SWEEPER = """
from pgdrill.fixtures.docker_factory import sweep_stale_docker
from pgdrill.fixtures.engine import Engine
print(sweep_stale_docker(Engine.connect("")))
"""
IN_ITS_OWN_PID_NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc"]


def hold(run_id: str, image: str, pidns: str, namespace: list[str]) -> subprocess.Popen:
    """A run holding a lease and one labelled volume, until its stdin closes or it is killed."""
    holder = subprocess.Popen([*namespace, sys.executable, "-c", HOLDER, run_id, image, pidns], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


def test_runs_in_two_pid_namespaces_keep_each_others_live_resources(drill_config):
    """Host A (this namespace) and host B (a pid namespace of its own, whose labels claim A's namespace id, as every
    host's initial namespace has the same one): each sweeps while both live and removes nothing of the other's;
    once B is killed outright, A's sweep removes B's leftovers and still not its own."""
    if drill_config.pg_backend != "docker" or shutil.which("unshare") is None:
        pytest.skip("not run: needs --pg-backend docker and unshare")
    from pgdrill.fixtures.docker_factory import pid_namespace
    from pgdrill.fixtures.plugin import docker_engine
    engine = docker_engine(drill_config)
    here = pid_namespace()
    a_id, b_id = f"sweep-a-{os.getpid()}", f"sweep-b-{os.getpid()}"
    volumes = {run: f"pgdrill-{run[-8:]}-held" for run in (a_id, b_id)}
    a = hold(a_id, drill_config.pg_image, here, [])
    b = hold(b_id, drill_config.pg_image, here, IN_ITS_OWN_PID_NAMESPACE)

    def existing() -> set[str]:
        return {v.name for v in engine.client.volumes.list(filters={"label": RUN_LABEL})} & set(volumes.values())

    try:
        assert existing() == set(volumes.values())
        sweep_stale_docker(engine)  # A sweeps
        subprocess.run([*IN_ITS_OWN_PID_NAMESPACE, sys.executable, "-c", SWEEPER], cwd=ROOT, check=True,
                       capture_output=True, timeout=120)  # B's namespace sweeps
        assert existing() == set(volumes.values()), "a live run's volume was swept"
        os.killpg(b.pid, signal.SIGKILL)
        b.wait(timeout=30)
        deadline = time.monotonic() + 60
        while b_id in live_leases(engine):
            assert time.monotonic() < deadline, "the killed run's lease outlived it"
            time.sleep(0.2)
        sweep_stale_docker(engine)
        assert existing() == {volumes[a_id]}, "the killed run's volume was kept, or the live run's swept"
    finally:
        for holder in (a, b):
            if holder.poll() is None:
                os.killpg(holder.pid, signal.SIGKILL)
                holder.wait()
        for name in volumes.values():
            try:
                engine.client.volumes.get(name).remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
