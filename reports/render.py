"""summary.md and summary.html: the drill summary a person (an auditor) reads.

A verdict line; the table Scenario | RTO target | RTO measured | RPO target | RPO measured | RPO bound | lost
transactions | checklist | verdict; then findings, runbook defects with their fixes, and where,
when, what and who. Values that were not measured say so.
"""

from __future__ import annotations

import html
from pathlib import Path

from pgdrill.reports.summary import names_production, write_report

NOT_MEASURED = "not measured"


def seconds(value) -> str:
    if value is None:
        return NOT_MEASURED
    value = float(value)
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.1f} h"


def checklist_cell(scenario: dict) -> str:
    counts = {status: sum(c["status"] == status for c in scenario["checks"]) for status in ("passed", "failed", "not_run")}
    if not scenario["checks"]:
        return NOT_MEASURED
    return f"{counts['passed']} passed, {counts['failed']} failed, {counts['not_run']} not run"


def verdict(data: dict) -> str:
    scenarios = data["scenarios"]
    if not scenarios:
        return "NO SCENARIO RAN: nothing was proved"
    failed = [s["id"] for s in scenarios if s["status"] == "failed"]
    not_run = [f"{s['id']} ({s['facts'].get('not_run', 'not run')})" for s in scenarios if s["status"] == "not_run"]
    skipped = f"; NOT RUN: {'; '.join(not_run)}" if not_run else ""
    if failed:
        return f"FAILED: {', '.join(failed)} did not recover within the targets with a clean checklist{skipped}"
    ran = len(scenarios) - len(not_run)
    return f"PASSED: all {ran} scenarios run recovered within their RTO/RPO targets with a clean checklist{skipped}"


def rows(data: dict) -> list[list[str]]:
    out = []
    for s in data["scenarios"]:
        lost = s.get("lost_acknowledged_transactions")
        out.append([f"{s['id']} ({s['backend']})", seconds(s["rto_target_seconds"]), seconds(s["rto_seconds"]),
                    seconds(s["rpo_target_seconds"]), seconds(s["rpo_seconds"]), rpo_bound_cell(s),
                    NOT_MEASURED if lost is None else str(lost), checklist_cell(s), s["status"]])
    return out


def rpo_bound_cell(s: dict) -> str:
    """The worst loss the configuration allows; 'unbounded' when it has none (RPO_UNBOUNDED)."""
    if s.get("rpo_bound_seconds") is not None:
        return seconds(s["rpo_bound_seconds"])
    return "unbounded" if "RPO_UNBOUNDED" in [f["code"] for f in s.get("findings", [])] else NOT_MEASURED


HEADER = ["Scenario", "RTO target", "RTO measured", "RPO target", "RPO measured", "RPO bound", "lost transactions",
          "checklist", "verdict"]


def forecast_lines(data: dict) -> list[str]:
    lines = []
    for f in data.get("forecasts", []):
        lines.append(f"{f['scenario']}: forecast RTO {seconds(f['forecast_rto_seconds'])} at {f['production_size']} "
                     f"(target {seconds(f['rto_target_seconds'])}: {f['verdict']}); fitted on measured runs at "
                     + ", ".join(f"{p['bytes'] / 1e6:.0f} MB: {seconds(p['rto_seconds'])}" for p in f["points"]))
    return lines


def runbook_lines(data: dict) -> list[str]:
    """The runbook as read: each scenario's steps with their lines, the targets with theirs, what was not understood,
    and the known defects each step writes."""
    book = data.get("runbook")
    if not book:
        return []
    at_line: dict[int, set[str]] = {}
    for code, written in book["defects_written"].items():
        for line in written:
            at_line.setdefault(line, set()).add(code)
    lines = ["", f"## Runbook as read: {book['path']}", ""]
    for s in book["scenarios"]:
        lines += [f"### Scenario {s['number']}: {s['title']} (line {s['line']}; {s['kind'] or 'kind unknown'}: "
                  f"{s['told_by'] or 'nothing tells it'})", "", "| step | lines | what | command | defects written |",
                  "|---|---|---|---|---|"]
        for step in s["steps"]:
            first, _, last = step["lines"].partition("-")
            span = range(int(first), int(last or first) + 1)
            codes = sorted(set().union(*(at_line.get(n, set()) for n in span)))
            command = (step["command"].splitlines()[0] if step["has_command"] else "(no command)").replace("|", r"\|")
            lines.append(f"| {step['number']} | {step['lines']} | {step['title']} | `{command}` | {', '.join(codes)} |")
        lines.append("")
    lines += ["Targets: " + "; ".join(f"{t['scenario']} {t['objective'].upper()} {t['written']} (line {t['line']})"
                                      for t in book["targets"]), ""]
    lines += [f"- not understood, line {u['line']}: `{u['text']}`: {u['why']}" for u in book["not_understood"]]
    return lines


MARK = {"passed": "✓", "failed": "✗", "not_run": "not run"}


def steps_run_lines(data: dict) -> list[str]:
    """Each runbook scenario drilled as written: its steps with ✓/✗/not run, lines, seconds, and why."""
    lines: list[str] = []
    for s in data["scenarios"]:
        ran = s.get("facts", {}).get("runbook_steps")
        if not ran:
            continue
        lines += ["", f"## {s['id']}: {s['facts'].get('scenario', '')}, as written: {s['status']}", "",
                  "| | section | step | lines | seconds | what happened |", "|---|---|---|---|---|---|"]
        for step in ran:
            said = " ".join(part for part in (step["why"], step["output_tail"][:160] if step["status"] == "failed" else "",
                                              "; ".join(step["substitutions"])) if part)
            lines.append(f"| {MARK.get(step['status'], step['status'])} | {step['section']} | "
                         f"{step['number'] if step['number'] is not None else step['title']} | {step['lines']} | "
                         f"{step['seconds']:.1f} | {said.replace('|', '/')} |")
    return lines


def steps_run_html(data: dict) -> str:
    """The runbook scenarios drilled as written, as tables: each step's mark, section, lines, seconds, what happened."""
    esc = html.escape
    out = ""
    for s in data["scenarios"]:
        ran = s.get("facts", {}).get("runbook_steps")
        if not ran:
            continue
        rows = "".join(
            f'<tr class="{"ok" if step["status"] == "passed" else "bad"}"><td>{esc(MARK.get(step["status"], ""))}</td>'
            f"<td>{esc(step['section'])}</td><td>{esc(str(step['number'] if step['number'] is not None else step['title']))}"
            f"</td><td>{esc(step['lines'])}</td><td>{step['seconds']:.1f}</td><td><code>"
            f"{esc(step['command'].splitlines()[0] if step['command'] else '(no command)')}</code></td>"
            f"<td>{esc(' '.join(p for p in (step['why'], step['output_tail'][:200] if step['status'] == 'failed' else '', '; '.join(step['substitutions'])) if p))}</td></tr>"
            for step in ran)
        out += (f"<h2>{esc(s['id'])}: {esc(str(s['facts'].get('scenario', '')))}, as written: {esc(s['status'])}</h2>"
                "<table><tr><th></th><th>section</th><th>step</th><th>lines</th><th>seconds</th><th>command</th>"
                f"<th>what happened</th></tr>{rows}</table>")
    return out


HISTORY_HEADER = ["scenario", "last passed", "runs (12 months)", "failures (12 months)", "RTO vs the last pass"]


def history_rows(data: dict) -> list[list[str]]:
    """The trend table: per scenario of this run, what the drill history says about it."""
    rows = []
    for name, trend in (data.get("history") or {}).get("scenarios", {}).items():
        change = trend["rto_change_vs_last_pass"]
        rows.append([name, trend["last_passed"] or "never", str(trend["runs_12_months"]),
                     str(trend["failures_12_months"]), "no earlier pass" if change is None else f"{change:+.0%}"])
    return rows


def history_note(data: dict) -> str:
    history = data.get("history") or {}
    note = f"History: {history.get('file')} ({history.get('appended', 0)} results appended by this run)."
    if history.get("replaced"):
        note += f" The earlier history {history['replaced']} could not be read: it is kept, and this one is new."
    return note


COST_HEADER = ["whose work", "what", "seconds", "share of the wall time"]


def cost_rows(data: dict) -> list[list[str]]:
    """The drill-cost ledger: PostgreSQL's work by name, then the drill's own, each with its share."""
    ledger = data.get("drill_cost") or {}
    wall = ledger.get("wall_seconds") or 0
    return [[whose, name, f"{value:.1f}", f"{value / wall:.0%}" if wall else "-"]
            for whose, kind in (("PostgreSQL", "postgres"), ("the drill", "drill"))
            for name, value in ledger.get(kind, {}).items()]


def cost_note(data: dict) -> str:
    ledger = data["drill_cost"]
    ratio = ledger["wall_per_postgres_second"]
    return (f"{ledger['wall_seconds']:.0f} s of tests, of which PostgreSQL's work {ledger['postgres_seconds']:.0f} s "
            f"and the drill's own {ledger['drill_seconds']:.0f} s: "
            + (f"{ratio:.2f} wall seconds per PostgreSQL second." if ratio else "no PostgreSQL work measured."))


def to_markdown(data: dict, plots: list[str]) -> str:
    lines = [f"# pgdrill drill summary {data['drill_id']}", "", f"**{verdict(data)}**", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(data)]
    lines += ["", "## Findings", ""]
    for s in data["scenarios"]:
        for f in s["findings"]:
            lines.append(f"- {s['id']}: **{f['code']}** ({f['severity']}): {f['message']}")
        for c in s["checks"]:
            if c["status"] != "passed":
                lines.append(f"- {s['id']}: check *{c['name']}* {c['status']}: {c['detail']}")
    if data.get("forecasts"):
        lines += ["", "## Forecast (not measured: extrapolated from the measured runs)", ""]
        lines += [f"- {line}" for line in forecast_lines(data)]
    lines += ["", "## Runbook defects (proved by running the runbook's literal commands)", ""]
    for d in data["runbook_defects"]:
        lines.append(f"- **{d['code']}** ({d['scenario']}): {d['message']}. Fix: {d['fix']}. Evidence: {d.get('evidence', '')}"
                     + "".join(f" Written at {where}." for where in d.get("written_at", [])))
    if data.get("history"):
        lines += ["", "## Trend (the drill history)", "", history_note(data), ""]
        lines += ["| " + " | ".join(HISTORY_HEADER) + " |", "|" + "---|" * len(HISTORY_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in history_rows(data)]
    if data.get("drill_cost"):
        lines += ["", "## Where the time went (the drill-cost ledger)", "", cost_note(data), ""]
        lines += ["| " + " | ".join(COST_HEADER) + " |", "|" + "---|" * len(COST_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in cost_rows(data)]
    lines += steps_run_lines(data)
    lines += runbook_lines(data)
    lines += ["", "## Run", ""]
    for key in ("started_at", "finished_at", "backend", "postgres_version", "pgvector_version", "image", "host", "user",
                "suite_commit", "targets_file", "seed_scale"):
        lines.append(f"- {key}: {data.get(key)}")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def to_html(data: dict, plots: list[str]) -> str:
    esc = html.escape
    table = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADER) + "</tr>"
    for row in rows(data):
        cls = "ok" if row[-1] == "passed" else "bad"
        table += f'<tr class="{cls}">' + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
    findings = "".join(f"<li><b>{esc(f['code'])}</b> ({esc(f['severity'])}) {esc(s['id'])}: {esc(f['message'])}</li>"
                       for s in data["scenarios"] for f in s["findings"])
    defects = "".join(f"<li><b>{esc(d['code'])}</b> ({esc(d['scenario'])}): {esc(d['message'])}<br>"
                      f"<i>fix:</i> {esc(d['fix'])}<br><i>evidence:</i> {esc(d.get('evidence', ''))}</li>"
                      for d in data["runbook_defects"])
    forecast = "".join(f"<li>{esc(line)}</li>" for line in forecast_lines(data))
    steps = steps_run_html(data)
    if data.get("history"):
        trend = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in HISTORY_HEADER) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in history_rows(data))
        steps = f"<h2>Trend (the drill history)</h2><p>{esc(history_note(data))}</p><table>{trend}</table>" + steps
    if data.get("drill_cost"):
        ledger = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in COST_HEADER) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in cost_rows(data))
        steps += f"<h2>Where the time went (the drill-cost ledger)</h2><p>{esc(cost_note(data))}</p><table>{ledger}</table>"
    images = "".join(f'<p><a href="{esc(p)}"><img src="{esc(p)}" alt="{esc(p)}" width="640"></a></p>' for p in plots)
    run = "".join(f"<li>{esc(k)}: {esc(str(data.get(k)))}</li>" for k in
                  ("started_at", "finished_at", "backend", "postgres_version", "pgvector_version", "image", "host",
                   "user", "suite_commit", "targets_file", "seed_scale"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>pgdrill {esc(data['drill_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;
padding:4px 8px}}tr.ok td:last-child{{background:#cfc}}tr.bad td:last-child{{background:#fcc}}</style></head><body>
<h1>pgdrill drill summary {esc(data['drill_id'])}</h1><p><b>{esc(verdict(data))}</b></p>
<table>{table}</table><h2>Findings</h2><ul>{findings or '<li>none</li>'}</ul>
{'<h2>Forecast (not measured: extrapolated from the measured runs)</h2><ul>' + forecast + '</ul>' if forecast else ''}
<h2>Runbook defects</h2><ul>{defects or '<li>none proved in this run</li>'}</ul>{steps}
<h2>Plots</h2>{images or '<p>none</p>'}<h2>Run</h2><ul>{run}</ul></body></html>
"""


def write_human(report_dir: Path, data: dict, plots: list[str]) -> None:
    private = names_production(data)
    write_report(report_dir / "summary.md", to_markdown(data, plots), private)
    write_report(report_dir / "summary.html", to_html(data, plots), private)
