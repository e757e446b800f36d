"""The HNSW knee is measured, not assumed: one small build at 1MB tells where a restore starts to spill."""

from __future__ import annotations

from pgdrill.scenarios.verdicts.hnsw import measure_knee


def test_the_knee_measured_at_1mb_predicts_the_spill_at_the_default_64mb(make_cluster):
    cluster = make_cluster("hnsw-knee")
    at_default = measure_knee(cluster, "server")
    assert at_default is not None and at_default.memory_bytes == 64 * 2**20
    # measured on these machines with a real 64MB build: "no longer fits ... after 77592 tuples"
    assert 0.9 < at_default.memory_bytes / at_default.graph_bytes_per_vector / 77592 < 1.1, at_default
    given = measure_knee(cluster, "2GB")
    assert given is not None and given.memory_bytes == 2 * 2**30
    assert given.database_bytes > 30 * at_default.database_bytes


def test_the_runbook_restore_probe_names_the_spill_only_when_pgvector_said_it(make_cluster):
    from pgdrill.scenarios.defects import hnsw_spilled
    target = make_cluster("hnsw-probe", seeded=False)
    # the line the literal restore of the 1 GB drill left in its server log
    log = ("2026-11-29 04:59:07.696 UTC [23233] NOTICE:  hnsw graph no longer fits into maintenance_work_mem "
           "after 77669 tuples\n2026-11-29 04:59:08.001 UTC [23233] LOG:  checkpoint starting: wal\n")
    [defect] = hnsw_spilled(target, log, 690.4)
    assert defect.code == "HNSW_RESTORE_MEMORY" and "maintenance_work_mem (64MB)" in defect.message, defect
    assert defect.evidence == ("hnsw graph no longer fits into maintenance_work_mem after 77669 tuples; the literal "
                               "restore took 690 s"), defect.evidence
    assert hnsw_spilled(target, log.splitlines()[1], 5.0) == []


def test_the_probe_proves_the_spill_from_the_knee_only_past_it(make_cluster):
    from pgdrill.scenarios.defects import hnsw_past_knee
    small = make_cluster("hnsw-knee-probe")  # the probes' own small cluster, whatever the drill's size
    [defect] = hnsw_past_knee(small, 440_000)  # the 1 GB drill's goals (seed scale 11 x 40,000)
    assert defect.code == "HNSW_RESTORE_MEMORY" and "maintenance_work_mem (64MB)" in defect.message, defect
    assert "440,000 vectors" in defect.evidence and "--literal-restore" in defect.evidence, defect.evidence
    assert hnsw_past_knee(small, 60_000) == []  # below the knee (about 77k at 64MB): not proved, and not claimed
