"""PNG plots for people: measured vs target per scenario, one scenario's step timeline, RTO vs size, RTO over
the drill history."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the headless backend
from matplotlib import dates, ticker  # noqa: E402


def measured_vs_target(data: dict, path: Path) -> Path | None:
    scenarios = [s for s in data["scenarios"] if s["rto_seconds"] is not None]
    if not scenarios:
        return None
    names = [f"{s['id']}\n({s['backend']})" for s in scenarios]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "rto", "RTO"), (axes[1], "rpo", "RPO")):
        measured = [s[f"{key}_seconds"] or 0 for s in scenarios]
        targets = [s[f"{key}_target_seconds"] for s in scenarios]
        x = range(len(scenarios))
        ax.bar([i - 0.2 for i in x], measured, 0.4, label="measured")
        ax.bar([i + 0.2 for i in x], targets, 0.4, label="target", alpha=0.5)
        ax.set_yscale("log")
        ax.set_xticks(list(x), names, fontsize=7)
        ax.set_ylabel("seconds (log)")
        ax.set_title(f"{title}: measured vs target")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def timeline(scenario: dict, path: Path) -> Path | None:
    steps = scenario.get("steps") or []
    if not steps:
        return None
    fig, ax = plt.subplots(figsize=(14, 0.45 * len(steps) + 1.5))
    start = 0.0
    for i, step in enumerate(steps):
        color = "tab:green" if step["status"] == "passed" else "tab:red"
        ax.barh(i, step["seconds"], left=start, color=color)
        start += step["seconds"]
    labels = [textwrap.shorten(s["name"].split("· ", 1)[-1], 70, placeholder="…") for s in steps]
    ax.set_yticks(range(len(steps)), labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first step")
    ax.set_title(f"{scenario['id']} ({scenario['backend']}): steps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def forecast(forecasts: list[dict], path: Path) -> Path | None:
    if not forecasts:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for f in forecasts:
        xs = [p["bytes"] / 1e9 for p in f["points"]]
        ys = [p["rto_seconds"] for p in f["points"]]
        line = ax.plot(xs, ys, "o", label=f"{f['scenario']} measured")[0]
        px = f["production_bytes"] / 1e9
        ax.plot([0, px], [f["intercept_seconds"], f["forecast_rto_seconds"]], "--", color=line.get_color(),
                label=f"{f['scenario']} forecast")
        ax.axhline(f["rto_target_seconds"], color=line.get_color(), alpha=0.3)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("log")
    ax.set_xlabel("database size (GB)")
    ax.set_ylabel("RTO (seconds, log); faint lines: targets")
    ax.set_title("RTO against data size: measured points, forecast lines")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def rto_trend(history: dict, path: Path) -> Path | None:
    """Each scenario's RTO over the history's last twelve months: failed runs marked, a creep visible."""
    series = {name: [(float(dates.date2num(datetime.fromisoformat(at))), rto, status)
                     for at, rto, status in trend["series"] if rto is not None]
              for name, trend in history.get("scenarios", {}).items()}
    series = {name: points for name, points in series.items() if points}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, points in sorted(series.items()):
        line = ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=name, markersize=4)[0]
        failed = [p for p in points if p[2] == "failed"]
        ax.plot([p[0] for p in failed], [p[1] for p in failed], "x", color=line.get_color(), markersize=9)
    ax.xaxis_date()
    ax.set_yscale("log")
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_ylabel("RTO (seconds, log); x: a failed run")
    ax.set_title("RTO over the drill history (last 12 months)")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw_all(report_dir: Path, data: dict) -> list[str]:
    """Write every plot the data allows; return their file names (relative to report_dir)."""
    made = [measured_vs_target(data, report_dir / "rto_rpo_vs_target.png"),
            forecast(data.get("forecasts", []), report_dir / "rto_forecast.png"),
            rto_trend(data.get("history") or {}, report_dir / "rto_trend.png")]
    for scenario in data["scenarios"]:
        made.append(timeline(scenario, report_dir / f"timeline_{scenario['id']}_{scenario['backend']}.png"))
    return [p.name for p in made if p is not None]
