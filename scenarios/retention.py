"""The runbook's retention policy, run over a simulated year of backup sets with its own cleanup commands.

Policy: daily 7 days, weekly 4 weeks, monthly 12 months, WAL "7 days minimum (or until next base
backup)". The year is simulated with files (names and modification times as the runbook's backup.sh
makes them: backup_YYYYMMDD_HHMMSS.dump daily, a base backup every Sunday, an archived WAL segment
every hour); the runbook's `find ... -delete` and `find ... -exec cp` commands then run for real on
them, and so does pg_archivecleanup. Recoverability of a retained base backup is judged by the WAL
it needs: every segment from its start to the end of its window (the next base backup) present.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pgdrill.scenarios.backups.basebackup import DrillFailure, check_archive_continuity
from pgdrill.scenarios.backups.wal import next_segment

DAY = 86400
SEGMENTS_PER_DAY = 24
RUNBOOK_CLEANUP = [
    'find {dumps} -name "*.dump" -mtime +7 -delete',
    'find {dumps} -name "*.sql" -mtime +7 -delete',
    'find {dumps} -name "*_01.dump" -exec cp {{}} {monthly}/ \\;',
]
WAL_BY_AGE = 'find {archive} -type f -mtime +7 -delete'  # "WAL archives: 7 days minimum", done by age


@dataclass
class Year:
    root: Path
    now: float
    base_backups: list[tuple[str, str]] = field(default_factory=list)  # (name, start segment)

    @property
    def dumps(self) -> Path:
        return self.root / "story-portal-backups"

    @property
    def monthly(self) -> Path:
        return self.root / "monthly"

    @property
    def archive(self) -> Path:
        return self.root / "wal_archive"


def _touch(path: Path, moment: float, text: str = "") -> None:
    path.write_text(text)
    os.utime(path, (moment, moment))


def simulate_year(root: Path, days: int = 365) -> Year:
    """A year of the runbook's backups, ending now: daily dumps, Sunday base backups, hourly WAL segments."""
    year = Year(root, time.time())
    for directory in (year.dumps, year.monthly, year.archive):
        directory.mkdir(parents=True)
    segment = "000000010000000000000001"
    _touch(year.archive / "00000001.history", year.now - days * DAY)
    for day in range(days):
        moment = year.now - (days - day) * DAY + 2 * 3600
        stamp = datetime.fromtimestamp(moment, UTC)
        _touch(year.dumps / f"backup_{stamp:%Y%m%d_%H%M%S}.dump", moment, "dump")
        if stamp.weekday() == 6:
            name = f"{segment}.00000028.backup"
            _touch(year.archive / name, moment, f"START WAL LOCATION: (file {segment})\n")
            year.base_backups.append((f"base_{stamp:%Y%m%d}", segment))
        for hour in range(SEGMENTS_PER_DAY):
            _touch(year.archive / segment, moment + hour * 3600)
            segment = next_segment(segment)
    return year


def run_runbook_cleanup(year: Year) -> None:
    for command in RUNBOOK_CLEANUP:
        subprocess.run(command.format(dumps=year.dumps, monthly=year.monthly), shell=True, check=True)


def recoverable(year: Year, kept: list[tuple[str, str]]) -> dict[str, str]:
    """For each kept base backup: 'ok' or why its window cannot be recovered."""
    verdicts = {}
    for index, (name, start) in enumerate(kept):
        until = kept[index + 1][1] if index + 1 < len(kept) else None
        try:
            check_archive_continuity(sorted(p.name for p in year.archive.iterdir()), start, str(year.archive), until)
            verdicts[name] = "ok"
        except DrillFailure as exc:
            verdicts[name] = str(exc).split(";")[0]
    return verdicts


def kept_base_backups(year: Year, weeks: int = 4) -> list[tuple[str, str]]:
    return year.base_backups[-weeks:]


def judge_policy(year: Year) -> dict:
    """What the runbook's cleanup kept against what its policy promises."""
    now = year.now
    dumps = sorted(year.dumps.glob("*.dump"))
    ages = [(now - p.stat().st_mtime) / DAY for p in dumps]
    weekly_needed = [w for w in range(1, 5)]  # one backup from each of the last 4 weeks beyond the dailies
    weekly_kept = sum(any(7 * w < age <= 7 * (w + 1) for age in ages) for w in weekly_needed)
    monthly_kept = len(list(year.monthly.glob("*")))
    return {"daily_kept": sum(age <= 8 for age in ages), "daily_required": 7,
            "weekly_kept": weekly_kept, "weekly_required": 4,
            "monthly_kept": monthly_kept, "monthly_required": 12,
            "oldest_dump_days": round(max(ages), 1) if ages else None}


def wal_by_age(year: Year) -> dict[str, str]:
    subprocess.run(WAL_BY_AGE.format(archive=year.archive), shell=True, check=True)
    return recoverable(year, kept_base_backups(year))


def wal_by_archivecleanup(year: Year, pg_archivecleanup: str) -> dict[str, str]:
    oldest = kept_base_backups(year)[0][1]
    backup_file = next(p.name for p in year.archive.glob(f"{oldest}.*.backup"))
    subprocess.run([pg_archivecleanup, str(year.archive), backup_file], check=True, capture_output=True)
    return recoverable(year, kept_base_backups(year))


def prove(workdir: Path, pg_archivecleanup: str) -> tuple[list, dict]:
    """Run the policy drill; return (runbook defects proved, facts for the report)."""
    from pgdrill.scenarios.verdicts.result import RunbookDefect
    year = simulate_year(workdir / "year-runbook")
    run_runbook_cleanup(year)
    policy = judge_policy(year)
    by_age = wal_by_age(year)
    history_kept = (year.archive / "00000001.history").exists()
    safe_year = simulate_year(workdir / "year-archivecleanup")
    safe = wal_by_archivecleanup(safe_year, pg_archivecleanup)
    facts = {"policy": policy, "wal_by_age": by_age, "wal_by_pg_archivecleanup": safe,
             "history_kept_by_age_cleanup": history_kept,
             "history_kept_by_pg_archivecleanup": (safe_year.archive / "00000001.history").exists()}
    defects = []
    if policy["weekly_kept"] < policy["weekly_required"] or policy["monthly_kept"] < policy["monthly_required"]:
        defects.append(RunbookDefect(
            "RETENTION_DELETES_WEEKLY_MONTHLY", "retention",
            "`find ... -name \"*.dump\" -mtime +7 -delete` deletes every dump older than a week, weekly and monthly "
            "ones included, and `-name \"*_01.dump\"` never matches backup_YYYYMMDD_HHMMSS.dump, so nothing is "
            "copied to monthly/", "keep backups by class (daily/weekly/monthly directories or names) and delete "
            "each class by its own age",
            f"after a simulated year: {policy['daily_kept']} daily kept (policy 7), {policy['weekly_kept']} of 4 "
            f"weekly, {policy['monthly_kept']} of 12 monthly; oldest dump {policy['oldest_dump_days']} days"))
    broken = {name: why for name, why in by_age.items() if why != "ok"}
    if broken or not history_kept:
        defects.append(RunbookDefect(
            "WAL_AGE_CLEANUP_BREAKS_BACKUPS", "retention",
            "'WAL archives: 7 days minimum' applied by age deletes WAL that retained base backups still need, and "
            "the timeline .history files", "pg_archivecleanup ARCHIVE <oldest kept backup>.backup; never delete "
            ".history files",
            f"{len(broken)} of {len(by_age)} retained weekly base backups unrecoverable after deleting WAL older than "
            f"7 days ({'; '.join(f'{n}: {w}' for n, w in list(broken.items())[:2])}); .history kept: {history_kept}; "
            f"with pg_archivecleanup: {sum(v == 'ok' for v in safe.values())} of {len(safe)} recoverable"))
    return defects, facts
