"""From drill-size measurements to a production-size answer.

A logical restore: RTO = fixed + size / throughput. Each scenario is measured at two or more data
sizes in the same run; a least-squares line through (bytes, RTO) gives the fixed part (intercept)
and the throughput (1/slope), and the line is read at the production size.

A physical recovery costs two things that grow apart: putting the base backup's files back grows
with the database's size, WAL replay with the WAL written since the backup (a weekly base backup
replays up to a week of WAL, whatever the size). So its two phases are fitted separately, files
against bytes and replay against replayed WAL bytes, and the forecast needs the production WAL
volume (--production-wal; without it the drill's own WAL-to-size ratio is assumed, and said).
Everything here is labelled: points are measured, the result is forecast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pgdrill.scenarios.verdicts.findings import meaning
from pgdrill.scenarios.verdicts.hnsw import Knee
from pgdrill.scenarios.verdicts.result import ERROR, Finding


@dataclass(frozen=True)
class Forecast:
    scenario: str
    points: list[dict]  # measured: [{"bytes", "rto_seconds", "scale"}]
    production_bytes: float
    production_size: str
    intercept_seconds: float | None
    throughput_bytes_per_second: float | None
    forecast_rto_seconds: float | None
    rto_target_seconds: float
    verdict: str  # "within target" | "breach" | "not forecastable: why"
    model: str = "rto = fixed + bytes / throughput"
    parts: dict | None = None  # physical: each phase's fit and the WAL volume used
    knee: dict | None = None  # logical: where the HNSW build outgrows the restore's memory (scenarios/verdicts/hnsw.py)

    @property
    def findings(self) -> list[Finding]:
        """FORECAST_RTO_BREACH when the forecast RTO at production size is past the target, else none."""
        if self.verdict != "breach" or self.forecast_rto_seconds is None:
            return []
        meaning("FORECAST_RTO_BREACH")
        return [Finding("FORECAST_RTO_BREACH", ERROR, f"{self.scenario} would take {self.forecast_rto_seconds / 60:.1f} "
                        f"min at {self.production_size}, above the {self.rto_target_seconds / 60:.0f} min target")]

    def as_dict(self) -> dict:
        return asdict(self) | {"kind": "forecast (not measured)", "findings": [f.as_dict() for f in self.findings]}


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x
    return mean_y - slope * mean_x, slope


LINE_TOLERANCE = 0.25  # how far the last step's cost per byte may drift from the first's for a line to hold
ALIKE = 1.5  # WAL volumes closer than this factor cannot separate replay's fixed part from its rate


def bend(pairs: list[tuple[float, float]]) -> tuple[str, bool] | None:
    """With three or more sizes: (why a line does not hold, whether the cost grows faster than size) when the cost
    per byte of the last step between neighbouring sizes is more than LINE_TOLERANCE from the first's; else None.
    Two sizes always fit a line: they cannot show it bends, and the model says so."""
    if len(pairs) < 3:
        return None
    steps = [(y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in zip(pairs, pairs[1:], strict=False)]
    if steps[0] <= 0 or abs(steps[-1] / steps[0] - 1) <= LINE_TOLERANCE:
        return None
    per = " then ".join(f"{step * 1e8:.2f} s" for step in steps)
    return f"the cost per 100 MB changed with size ({per} between the measured sizes)", steps[-1] > steps[0]


def checked(pairs: list[tuple[float, float]]) -> str:
    return f"linearity checked at {len(pairs)} sizes" if len(pairs) >= 3 else "two sizes: linearity unchecked"


def forecast(scenario: str, measured: list[dict], production_bytes: float, production_size: str,
             target_seconds: float, knee: Knee | None = None) -> Forecast:
    """measured: dicts with bytes and rto_seconds from runs of the same scenario at different sizes.

    knee: past its size the restore's HNSW build spills to disk and the line no longer holds: a
    forecast that stays within target there is "not forecastable" (one over target is a breach
    already: the line is then a lower bound)."""
    points = sorted(measured, key=lambda p: p["bytes"])
    pairs = [(p["bytes"], p["rto_seconds"]) for p in points]
    if len({x for x, _ in pairs}) < 2:
        return Forecast(scenario, points, production_bytes, production_size, None, None, None, target_seconds,
                        "not forecastable: fewer than two distinct measured sizes")
    intercept, slope = fit(pairs)
    if slope <= 0:
        return Forecast(scenario, points, production_bytes, production_size, intercept, None, None, target_seconds,
                        "not forecastable: RTO did not grow with size in this run (noise dominates at these sizes)")
    predicted = max(intercept, 0.0) + slope * production_bytes
    verdict = judged(predicted, target_seconds, bend(pairs))
    if knee and production_bytes > knee.database_bytes and verdict == "within target":
        verdict = (f"not forecastable: past {knee.database_bytes / 1e9:.2f} GB the HNSW graph "
                   f"({knee.graph_bytes_per_vector:.0f} bytes per vector, measured) outgrows the restore's "
                   f"maintenance_work_mem ({knee.memory_bytes / 2**20:.0f}MB) and the build spills to disk: restore "
                   f"time grows far faster than size; raise --restore-memory or drill at {production_size}")
    return Forecast(scenario, points, production_bytes, production_size, round(intercept, 3), round(1 / slope, 1),
                    round(predicted, 1), target_seconds, verdict, f"rto = fixed + bytes / throughput; {checked(pairs)}",
                    knee=knee.as_dict() if knee else None)


def judged(predicted: float, target_seconds: float, bent: tuple[str, bool] | None) -> str:
    """The verdict on a line's answer: a bent cost makes it a bound, which decides only when it already breaches."""
    verdict = "within target" if predicted <= target_seconds else "breach"
    if bent is None or (bent[1] and verdict == "breach"):  # growing faster than size: the line is a lower bound
        return verdict
    if bent[1]:
        return f"not forecastable: {bent[0]}: a line does not hold here, and its {predicted:.0f} s is only a lower bound"
    # a cost per byte that shrinks is fixed costs and thresholds at small sizes, not a trend to bound anything by
    return (f"not forecastable: {bent[0]}: fixed costs and thresholds still dominate at these sizes; measure at "
            "larger ones (a seed scale of 1 or more)")


def forecast_physical(scenario: str, measured: list[dict], production_bytes: float, production_wal: float | None,
                      production_size: str, target_seconds: float) -> Forecast:
    """measured: dicts with bytes, wal_bytes, restore_files_seconds, replay_seconds and rto_seconds."""
    points = sorted(measured, key=lambda p: p["bytes"])
    model = "rto = files_fixed + bytes / files_rate + replay_fixed + wal_bytes / replay_rate"
    files = [(p["bytes"], p["restore_files_seconds"]) for p in points]
    replay = [(p["wal_bytes"], p["replay_seconds"]) for p in points]

    def cannot(why: str) -> Forecast:
        return Forecast(scenario, points, production_bytes, production_size, None, None, None, target_seconds,
                        f"not forecastable: {why}", model)

    if len({x for x, _ in files}) < 2:
        return cannot("fewer than two distinct measured sizes")
    (files_fixed, files_slope), (replay_fixed, replay_slope, replay_how) = fit(files), replay_fit(replay)
    if files_slope <= 0 or replay_slope <= 0:
        return cannot(f"the {'restore of files' if files_slope <= 0 else 'replay'} did not grow with size in this run "
                      "(noise dominates at these sizes)")
    assumed = production_wal is None
    wal = production_wal if production_wal is not None else production_bytes * sum(
        p["wal_bytes"] / p["bytes"] for p in points) / len(points)
    predicted = max(files_fixed, 0.0) + files_slope * production_bytes + max(replay_fixed, 0.0) + replay_slope * wal
    parts = {"files_fit": checked(files), "replay_fit": replay_how,
             "files_rate_bytes_per_second": round(1 / files_slope, 1), "files_fixed_seconds": round(files_fixed, 3),
             "replay_rate_bytes_per_second": round(1 / replay_slope, 1), "replay_fixed_seconds": round(replay_fixed, 3),
             "production_wal_bytes": round(wal),
             "wal_volume": "assumed: the drill's WAL-to-size ratio (give --production-wal)" if assumed
             else "given (--production-wal)"}
    return Forecast(scenario, points, production_bytes, production_size, round(files_fixed + replay_fixed, 3),
                    round(1 / files_slope, 1), round(predicted, 1), target_seconds,
                    judged(predicted, target_seconds, bend(files)), model, parts)


def replay_fit(replay: list[tuple[float, float]]) -> tuple[float, float, str]:
    """(fixed, seconds per WAL byte, how): a least-squares line where the WAL volumes differ enough; else through
    the origin at the slowest measured rate (a drill writes about the same WAL at every scale)."""
    volumes = [x for x, _ in replay]
    if max(volumes) >= ALIKE * min(volumes):
        return (*fit(replay), "fixed + wal / rate, least squares")
    return 0.0, max(y / x for x, y in replay), (
        "through the origin: the measured WAL volumes were too alike to tell a fixed part from the rate, so the "
        "slowest measured rate is used (the fixed part counted as replay)")
