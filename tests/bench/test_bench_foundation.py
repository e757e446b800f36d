"""Benchmarks (not timed tests): cluster start from a template vs initdb; seeding vs a raw COPY.

Run: tox -e bench   (or: pytest tests/bench -p no:xdist --benchmark-only)
Both sides of each comparison run in one process on the same data; compare within the group.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pgdrill.fixtures.cluster import LocalCluster
from pgdrill.fixtures.seed import COLUMNS, RowMaker, create_database, load, rows_for_scale, table_rows

BENCH_SCALE = 0.2


@pytest.mark.benchmark(group="cluster-start")
@pytest.mark.parametrize("source", ["template", "initdb"])
def test_start_cluster(benchmark, cluster_factory, source):
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


def copy_text(rows) -> bytes:
    """Rows rendered as COPY text format, the same bytes the seeder streams."""
    out = io.StringIO()
    for row in rows:
        out.write("\t".join("\\N" if v is None else str(v).replace("\\", "\\\\").replace("\t", "\\t")
                            .replace("\n", "\\n") for v in row) + "\n")
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def bench_cluster(cluster_factory):
    cluster = cluster_factory.new("bench-seed", seeded=False)
    with cluster.connect() as admin:
        create_database(admin, cluster_factory.password)
    yield cluster
    cluster_factory.discard(cluster)


@pytest.mark.benchmark(group="seed-throughput")
@pytest.mark.parametrize("method", ["seeder", "raw-copy"])
def test_seed_throughput(benchmark, bench_cluster, method):
    counts = rows_for_scale(BENCH_SCALE)
    prepared = {table: copy_text(rows) for table, rows in table_rows(RowMaker(42), counts)}
    total = sum(len(b) for b in prepared.values())

    def reset(db) -> None:
        db.execute("DROP SCHEMA IF EXISTS audit CASCADE; DROP MATERIALIZED VIEW IF EXISTS agent_task_stats; DROP TABLE IF EXISTS tasks, goals, agents CASCADE")

    def seeder() -> None:
        with bench_cluster.connect("agentic_platform", autocommit=False) as db:
            reset(db)
            db.commit()
            load(db, BENCH_SCALE)

    def raw_copy() -> None:
        from pgdrill.fixtures.seed import SCHEMA, VECTORS
        with bench_cluster.connect("agentic_platform", autocommit=False) as db, db.cursor() as cur:
            reset(db)
            cur.execute(SCHEMA + VECTORS)
            for table, data in prepared.items():
                with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    copy.write(data)
            db.commit()

    benchmark.extra_info["copy_bytes"] = total
    benchmark.pedantic(seeder if method == "seeder" else raw_copy, rounds=3, warmup_rounds=0)
    if benchmark.stats:  # None when benchmarking is disabled (xdist, --benchmark-disable): ran once
        benchmark.extra_info["MB_per_s"] = round(total / benchmark.stats.stats.mean / 1e6, 2)
