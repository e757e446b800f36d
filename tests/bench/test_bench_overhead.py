"""DESIGN's ratio: a drill's recovery steps cost no more than the raw commands they wrap (suite / raw <= 1.10).

One run, the same data: Scenario 1 end to end (its RTO is the recovery: drop, roles, create, pg_restore,
first write), and the same commands typed by hand on a cluster seeded the same, from a dump taken the
same way, with the same pg_restore options; interleaved for several rounds, medians compared (a single
pair on these shared machines varies by 20%). Written to overhead.json beside the summary.

Run: tox -e bench   (or: pytest tests/bench -p no:xdist --benchmark-only; PGDRILL_OVERHEAD_SCALE 1, _ROUNDS 3)
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import replace

import pytest

from pgdrill.fixtures.seed import APP_ROLE, DATABASE, index_build_settings
from pgdrill.scenarios import logical
from pgdrill.scenarios.steps.faults import Faults

SCALE = float(os.environ.get("PGDRILL_OVERHEAD_SCALE", "1"))
ROUNDS = int(os.environ.get("PGDRILL_OVERHEAD_ROUNDS", "3"))


def raw_restore_seconds(cluster, workdir, jobs: int, memory: str) -> float:
    """The recovery commands by hand: what Scenario 1 runs between the disaster and the first write."""
    dump, globals_sql = workdir / "raw.dump", workdir / "raw-globals.sql"
    if not dump.exists():  # the same dump for every round, as the database restored is the same
        cluster.tool("pg_dumpall", "--globals-only", stdout_path=globals_sql)
        cluster.tool("pg_dump", "-Fc", "-d", DATABASE, stdout_path=dump)
    started = time.perf_counter()
    cluster.query(f"DROP DATABASE {DATABASE} WITH (FORCE)")
    cluster.query(f"DROP ROLE {APP_ROLE}")
    cluster.query(f"CREATE DATABASE {DATABASE}")
    cluster.tool("psql", "-X", "-q", "-d", "postgres", stdin_path=globals_sql)
    out = logical.restore_dump(cluster, dump, jobs, settings=index_build_settings(memory))
    assert out.returncode == 0, out.stderr[-2000:]
    cluster.query("CREATE TABLE raw_first_write (id int); DROP TABLE raw_first_write", dbname=DATABASE)
    return time.perf_counter() - started


@pytest.mark.benchmark(group="overhead")
def test_recovery_steps_cost_no_more_than_the_raw_commands(benchmark, drill_context, drill_config):
    ctx = replace(drill_context, make_cluster=lambda name, **kw: drill_context.make_cluster(name, scale=SCALE, **kw))
    raw_cluster = ctx.make_cluster("overhead-raw")
    suite, raw = [], []
    for _ in range(ROUNDS):  # interleaved: a noisy neighbour slows both sides alike
        result = logical.run(replace(ctx, closers=[], faults=Faults()))
        assert result.status == "passed", result.explain()
        suite.append(result.rto_seconds)
        raw.append(round(raw_restore_seconds(raw_cluster, ctx.workdir, ctx.restore_jobs, ctx.restore_memory), 3))
    benchmark.pedantic(lambda: None, rounds=1)  # the figures are in overhead.json and extra_info
    report = {"backend": drill_config.pg_backend, "scale": SCALE, "database_bytes": result.facts["database_bytes"],
              "suite_rto_seconds": suite, "raw_commands_seconds": raw,
              "ratio": round(statistics.median(suite) / statistics.median(raw), 3), "limit": 1.10,
              "restore": {"jobs": ctx.restore_jobs, "settings": result.facts["restore_settings"]}}
    path = drill_config.dr_report_dir / "overhead.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    benchmark.extra_info.update(report)
    assert report["ratio"] <= 1.10, report
