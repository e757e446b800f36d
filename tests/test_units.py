"""Pure logic: RPO arithmetic, PITR exactness, WAL segment names, targets files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgdrill.fixtures.config import ConfigError
from pgdrill.scenarios.backups.wal import next_segment, parse_lsn, segment_name
from pgdrill.scenarios.proofs.measure import measure_rpo, pitr_exactness
from pgdrill.scenarios.verdicts.result import ScenarioResult
from pgdrill.scenarios.verdicts.targets import load_targets, parse_duration

ROOT = Path(__file__).resolve().parent.parent


def test_rpo_is_zero_when_nothing_is_lost():
    m = measure_rpo({1: 10.0, 2: 11.0}, {1, 2}, {1, 2})
    assert (m.rpo_seconds, m.lost) == (0.0, [])


def test_rpo_is_last_acknowledged_minus_last_survivor():
    m = measure_rpo({1: 10.0, 2: 11.0, 3: 12.5}, {1, 2, 3}, {1})
    assert (m.rpo_seconds, m.lost, m.survivors) == (2.5, [2, 3], 1)


def test_rpo_counts_from_the_first_lost_commit_not_from_a_later_survivor():
    """A hole in the middle (2 and 3 lost, 4 kept) is a loss back to 1, not RPO 0."""
    m = measure_rpo({1: 10.0, 2: 11.0, 3: 12.0, 4: 13.0}, {1, 2, 3, 4}, {1, 4})
    assert (m.rpo_seconds, m.lost, m.lower_bound) == (3.0, [2, 3], False)


def test_rpo_is_a_lower_bound_when_the_first_marker_is_lost():
    m = measure_rpo({1: 10.0, 2: 11.0, 3: 12.0}, {1, 2, 3}, {3})
    assert (m.rpo_seconds, m.lost, m.lower_bound) == (2.0, [1, 2], True)


def test_pitr_exactness_both_directions():
    ts = {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}
    assert pitr_exactness(ts, 2.0, {1, 2}) == ([], [])
    assert pitr_exactness(ts, 2.0, {1}) == ([2], [])
    assert pitr_exactness(ts, 2.0, {1, 2, 3}) == ([], [3])


def test_segment_names_roll_over():
    assert segment_name(1, parse_lsn("0/3000028")) == "000000010000000000000003"
    assert next_segment("0000000100000000000000FF") == "000000010000000100000000"
    assert segment_name(2, parse_lsn("1/0")) == "000000020000000100000000"


def test_targets_default_to_the_runbook():
    targets = load_targets()
    assert targets["logical_restore"].rto_seconds == 1800 and targets["logical_restore"].rpo_seconds == 86400
    assert targets["physical_restore"].rto_seconds == 900 and targets["pitr"].rpo_seconds == 300
    assert targets["complete_rebuild"].rto_seconds == 3600


def test_targets_override_only_what_it_names(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[pitr]\nrto = "10m"\n')
    targets = load_targets(path)
    assert targets["pitr"].rto_seconds == 600 and targets["pitr"].rpo_seconds == 300


@pytest.mark.parametrize("text, message", [
    ("[nosuch]\nrto = 1\n", "unknown scenario 'nosuch'"),
    ("[pitr]\nrto = \"soon\"\n", "pitr.rto must be a positive duration like 90s, 15m or 24h, not 'soon'."),
    ("[pitr]\nrtx = 1\n", "[pitr] may set only dump_interval, rpo, rto."),
    ("[pitr\n", "is not valid TOML"),
])
def test_bad_targets_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as raised:
        load_targets(path)
    assert message in str(raised.value)


def test_bad_targets_file_stops_the_run_at_start(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("[nosuch]\nrto = 1\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "drills", "--dr-targets", str(path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 4 and "unknown scenario 'nosuch'" in out.stderr and "Traceback" not in out.stderr


def test_duration_units():
    assert [parse_duration("x", v) for v in ("90s", "15m", "24h", "1d", 30, "2.5m")] == [90, 900, 86400, 86400, 30, 150]


def test_breaches_are_findings_and_fail_the_scenario():
    result = ScenarioResult("pitr", 3, "local", rto_target_seconds=10, rpo_target_seconds=5)
    result.rto_seconds, result.rpo_seconds = 12.0, 6.0
    result.judge()
    assert result.status == "failed"
    assert [f.code for f in result.findings] == ["RTO_BREACH", "RPO_BREACH"]
    assert "RTO 12.0 s exceeds the target 10 s" in result.explain()


def test_scenario_without_measurement_is_not_run_never_passed():
    result = ScenarioResult("pitr", 3, "local", 10, 5)
    result.judge()
    assert result.status == "not_run"


def test_forecast_reads_the_fitted_line_at_production_size():
    from pgdrill.scenarios.verdicts.forecast import forecast
    answer = forecast("pitr", [{"bytes": 1e8, "rto_seconds": 12.0}, {"bytes": 2e8, "rto_seconds": 22.0}],
                      1e10, "10 GB", 1800)
    assert (answer.intercept_seconds, answer.throughput_bytes_per_second) == (2.0, 1e7)
    assert answer.forecast_rto_seconds == 1002.0 and answer.verdict == "within target"
    assert forecast("pitr", answer.points, 1e11, "100 GB", 1800).verdict == "breach"


def test_forecast_refuses_what_it_cannot_know():
    from pgdrill.scenarios.verdicts.forecast import forecast
    flat = forecast("pitr", [{"bytes": 1e8, "rto_seconds": 5.0}, {"bytes": 2e8, "rto_seconds": 4.0}], 1e10, "10 GB", 60)
    assert flat.forecast_rto_seconds is None and flat.verdict.startswith("not forecastable")
    single = forecast("pitr", [{"bytes": 1e8, "rto_seconds": 5.0}], 1e10, "10 GB", 60)
    assert single.verdict.startswith("not forecastable: fewer than two")


def test_a_forecast_past_the_hnsw_knee_is_not_a_line():
    from pgdrill.scenarios.verdicts.forecast import forecast
    from pgdrill.scenarios.verdicts.hnsw import Knee
    knee = Knee(graph_bytes_per_vector=844.0, vectors_per_database_byte=4.4e-4, memory_bytes=64 * 2**20)
    assert round(knee.database_bytes / 1e6) == 181  # 79.5k vectors of 844 bytes in 64MB, 4.4e-4 vectors a byte
    points = [{"bytes": 1e7, "rto_seconds": 2.0}, {"bytes": 1e8, "rto_seconds": 11.0}]
    below = forecast("logical_restore", points, 1e8, "0.1 GB", 1800, knee)
    assert below.verdict == "within target" and below.knee and below.knee["knee_database_bytes"] == 180711073
    past = forecast("logical_restore", points, 1e9, "1 GB", 1800, knee)
    assert past.verdict.startswith("not forecastable: past 0.18 GB the HNSW graph (844 bytes per vector, measured) "
                                   "outgrows the restore's maintenance_work_mem (64MB)"), past.verdict
    assert forecast("logical_restore", points, 1e12, "1 TB", 1800, knee).verdict == "breach"  # a lower bound


def test_three_sizes_tell_whether_a_line_holds():
    from pgdrill.scenarios.verdicts.forecast import forecast
    linear = [{"bytes": 1e7, "rto_seconds": 2.0}, {"bytes": 3e7, "rto_seconds": 4.1}, {"bytes": 1e8, "rto_seconds": 11.0}]
    answer = forecast("logical_restore", linear, 1e9, "1 GB", 1800)
    assert answer.verdict == "within target" and answer.model.endswith("linearity checked at 3 sizes")
    # the 1 GB drill's shape: the HNSW build costs more per byte the more vectors there are
    bent = [{"bytes": 1.7e7, "rto_seconds": 1.6}, {"bytes": 4e7, "rto_seconds": 3.8}, {"bytes": 9.8e7, "rto_seconds": 11.8}]
    superlinear = forecast("logical_restore", bent, 1e9, "1 GB", 1800)
    assert superlinear.verdict.startswith("not forecastable: the cost per 100 MB changed with size (9.57 s then "
                                          "13.79 s between the measured sizes)"), superlinear.verdict
    assert superlinear.verdict.endswith("is only a lower bound")
    assert forecast("logical_restore", bent, 1e10, "10 GB", 600).verdict == "breach"  # the bound already breaches
    # measured from scale 0.1: 17 MB 1.5 s, 35 MB 6.0 s, 98 MB 11.5 s; at 995 MB it took 208 s, no upper bound
    shrinking = [{"bytes": 1.7e7, "rto_seconds": 1.5}, {"bytes": 3.5e7, "rto_seconds": 6.0},
                 {"bytes": 9.8e7, "rto_seconds": 11.5}]
    small = forecast("logical_restore", shrinking, 1e9, "1 GB", 1800).verdict
    assert small.endswith("fixed costs and thresholds still dominate at these sizes; measure at larger ones "
                          "(a seed scale of 1 or more)") and "bound" not in small, small
    two = forecast("logical_restore", bent[::2], 1e9, "1 GB", 1800)
    assert two.verdict == "within target" and two.model.endswith("two sizes: linearity unchecked")


def test_replay_with_alike_wal_volumes_is_read_through_the_origin():
    from pgdrill.scenarios.verdicts.forecast import forecast_physical
    points = [{"bytes": 1.7e7, "wal_bytes": 50334000, "restore_files_seconds": 0.825, "replay_seconds": 0.628,
               "rto_seconds": 1.453},
              {"bytes": 9.8e7, "wal_bytes": 50334000, "restore_files_seconds": 1.348, "replay_seconds": 0.738,
               "rto_seconds": 2.086}]
    answer = forecast_physical("physical_restore", points, 1e9, 7e8, "1 GB", 900)
    assert answer.parts and answer.parts["replay_fit"].startswith("through the origin")
    assert answer.parts["replay_rate_bytes_per_second"] == round(50334000 / 0.738, 1)  # the slowest reading


def test_recovery_follows_the_newest_timeline_and_reads_the_switch_segment_from_it():
    from pgdrill.scenarios.proofs.timelines import Leg, expected_segments, recovery_path
    history = {"00000002.history": b"1\t0/5000100\tno recovery target specified\n"}
    legs = recovery_path(["00000002.history"], history.__getitem__, 1, 0x3000028)
    assert legs == [Leg(1, "000000010000000000000003", "000000010000000000000004"),
                    Leg(2, "000000020000000000000005", None)]
    present = ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005.partial",
               "000000020000000000000005", "000000020000000000000006"]
    assert expected_segments(legs, present) == [["000000010000000000000003", "000000010000000000000004"],
                                                ["000000020000000000000005", "000000020000000000000006"]]


def test_a_backup_taken_after_the_switch_starts_on_the_new_timeline():
    from pgdrill.scenarios.proofs.timelines import Leg, recovery_path
    history = {"00000002.history": b"1\t0/5000100\tno recovery target specified\n"}
    assert recovery_path(["00000002.history"], history.__getitem__, 2, 0x7000028) == [
        Leg(2, "000000020000000000000007", None)]


def test_physical_forecast_grows_replay_with_wal_not_size():
    """Files grow with the database, replay with the WAL since the backup: a week of WAL at the same size costs
    more replay, and without --production-wal the drill's own ratio is assumed and said."""
    from pgdrill.scenarios.verdicts.forecast import forecast_physical
    points = [{"bytes": 1e8, "wal_bytes": 5e7, "restore_files_seconds": 2.0, "replay_seconds": 1.5, "rto_seconds": 3.5},
              {"bytes": 2e8, "wal_bytes": 1e8, "restore_files_seconds": 3.0, "replay_seconds": 2.0, "rto_seconds": 5.0}]
    given = forecast_physical("physical_restore", points, 1e10, 2e10, "10 GB", 900)
    assert given.forecast_rto_seconds == round(1.0 + 1e10 / 1e8 + 1.0 + 2e10 / 1e8, 1)  # 1 + 100 + 1 + 200
    assert given.parts["wal_volume"] == "given (--production-wal)"
    assumed = forecast_physical("physical_restore", points, 1e10, None, "10 GB", 900)
    assert assumed.parts["production_wal_bytes"] == 5e9 and "assumed" in assumed.parts["wal_volume"]
    flat = [dict(p, replay_seconds=1.0) for p in points]
    assert forecast_physical("pitr", flat, 1e10, None, "10 GB", 900).verdict.startswith("not forecastable: the replay")


def test_compose_environment_gives_back_what_the_user_had(monkeypatch):
    """docker-compose reads its values from os.environ: afterwards each is as it was, a user's DOCKER_HOST included."""
    import os

    from pgdrill.fixtures.compose import environment
    monkeypatch.setenv("DOCKER_HOST", "tcp://the-users-engine:2375")
    monkeypatch.delenv("PGDRILL_IMAGE", raising=False)
    with environment({"DOCKER_HOST": "unix:///var/run/docker.sock", "PGDRILL_IMAGE": "image"}):
        assert os.environ["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert os.environ["DOCKER_HOST"] == "tcp://the-users-engine:2375" and "PGDRILL_IMAGE" not in os.environ


def test_a_verdict_survives_python_O():
    """require() raises whatever the interpreter's optimisation level: a check that must be able to fail can."""
    import subprocess
    import sys
    code = ("from pgdrill.scenarios.verdicts.checks import run_check, require\n"
            "print(run_check('x', lambda: require(False, 'broken') or 'ok').status)")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "failed"


def test_a_misspelled_fault_hook_is_an_error_not_a_fault_skipped():
    from pgdrill.scenarios.steps.faults import Faults
    faults = Faults()
    faults.before_start = lambda cluster: None
    with pytest.raises(AttributeError):
        faults.befor_start = lambda cluster: None
