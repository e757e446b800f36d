"""Benchmarks (not timed tests): cluster start from a template vs initdb (seeding vs a raw COPY is in
test_bench_production.py).

Run: tox -e bench   (or: pytest tests/bench -p no:xdist --benchmark-only)
Both sides of each comparison run in one process on the same data; compare within the group.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdrill.fixtures.cluster import LocalCluster

BENCH_SCALE = 0.2


@pytest.mark.benchmark(group="cluster-start")
@pytest.mark.parametrize("source", ["template", "initdb"])
def test_start_cluster(benchmark, cluster_factory, drill_config, source):
    if drill_config.pg_backend != "local":
        pytest.skip("not run: template copy against initdb is the local backend's start (a container starts "
                    "from its image's own initdb)")
    template = Path(cluster_factory.template()) if source == "template" else None

    def start_and_remove() -> None:
        cluster_factory._count += 1
        home = cluster_factory.run.path / f"bench-{cluster_factory._count}"
        cluster = LocalCluster.create(cluster_factory.driver.installation, home, "bench", cluster_factory.run.run_id,
                                      cluster_factory.password, template=template)
        try:
            cluster.start()
            assert cluster.scalar("SELECT 1") == 1
        finally:
            cluster.remove()

    benchmark.pedantic(start_and_remove, rounds=5, warmup_rounds=1)
