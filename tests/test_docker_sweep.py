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
from pgdrill.fixtures.docker_factory import PID_LABEL, sweep_stale_docker
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
