"""From drill-size measurements to a production-size answer: RTO = fixed + size / throughput.

Each scenario is measured at two or more data sizes in the same run; a least-squares line through
(bytes, RTO) gives the fixed part (intercept) and the throughput (1/slope), and the line is read at
the production size. Everything here is labelled: points are measured, the result is forecast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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

    def as_dict(self) -> dict:
        return asdict(self) | {"kind": "forecast (not measured)"}


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x
    return mean_y - slope * mean_x, slope


def forecast(scenario: str, measured: list[dict], production_bytes: float, production_size: str,
             target_seconds: float) -> Forecast:
    """measured: dicts with bytes and rto_seconds from runs of the same scenario at different sizes."""
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
    return Forecast(scenario, points, production_bytes, production_size, round(intercept, 3), round(1 / slope, 1),
                    round(predicted, 1), target_seconds, "within target" if predicted <= target_seconds else "breach")
