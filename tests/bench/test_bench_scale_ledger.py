"""The drill-cost ledger of a monthly run's scenarios at two sizes: the wall seconds per PostgreSQL second.

Scenarios 1-3 once each at every scale of PGDRILL_LEDGER_SCALES (default 1,4), each in a ledger window of
its own (fixtures/cost.py), seeding included as the monthly drill includes it. At the largest scale the
drill's own work (copies, snapshots, hashes, checks, waits) must stay within half of PostgreSQL's:
wall <= 1.5 x PostgreSQL seconds. Written to ledger.json beside the summary. (The runbook-defect probes
of a monthly run are not here: they run on small clusters of their own, the same at every scale, and the
monthly run's summary.json shows them.)

The file's name puts it after the overhead benchmark (pytest runs the files in name order): a gigabyte
written and deleted at scale 4 is still being flushed for a while, and the overhead rounds of a second or
two each must not run beside that.

Run: tox -e bench   (or: pytest tests/bench/test_bench_scale_ledger.py -p no:xdist --benchmark-only)
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from pgdrill.fixtures import cost
from pgdrill.fixtures.osuser import remove_tree
from pgdrill.scenarios import logical, physical, pitr
from pgdrill.scenarios.steps.faults import Faults

SCALES = [float(x) for x in os.environ.get("PGDRILL_LEDGER_SCALES", "1,4").split(",")]
LIMIT = 1.5


@pytest.mark.benchmark(group="ledger")
def test_a_monthly_run_spends_its_time_on_postgresql(benchmark, cluster_factory, drill_context, drill_config):
    report = {}
    for scale in SCALES:
        made: list = []

        def make(name, scale=scale, made=made, **kw):
            made.append(cluster_factory.new(name, scale=scale, **kw))
            return made[-1]
        accounts = []
        for module in (logical, physical, pitr):
            workdir = drill_context.workdir / f"{module.SCENARIO}-{scale:g}"
            workdir.mkdir(mode=0o700)
            with cost.LEDGER.window() as account:  # its teardown too, as a monthly run's test pays it
                result = module.run(replace(drill_context, make_cluster=make, workdir=workdir, closers=[],
                                            faults=Faults()))
                with cost.drill("teardown"):
                    while made:
                        cluster_factory.discard(made.pop())
                    remove_tree(workdir)
            assert result.status == "passed", result.explain()
            accounts.append(account)
        report[f"{scale:g}"] = cost.combine(accounts) | {"database_bytes": result.facts["database_bytes"]}
    benchmark.pedantic(lambda: None, rounds=1)  # the figures are in ledger.json and extra_info
    benchmark.extra_info.update({scale: ledger["wall_per_postgres_second"] for scale, ledger in report.items()})
    drill_config.dr_report_dir.mkdir(parents=True, exist_ok=True)
    (drill_config.dr_report_dir / "ledger.json").write_text(json.dumps({"limit": LIMIT, "scales": report}, indent=2))
    print(json.dumps({scale: {k: v for k, v in ledger.items() if k not in ("postgres", "drill")}
                      for scale, ledger in report.items()}))
    largest = report[f"{max(SCALES):g}"]
    assert largest["wall_per_postgres_second"] <= LIMIT, largest
