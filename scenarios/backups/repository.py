"""Backups that live in a backup tool's repository, put into the stock layout by the tool itself, so that the
restore test proves them as it proves any base backup and archive.

A pgBackRest set is restored with `pgbackrest restore --type=none` (a plain data directory with its backup_label and
no recovery settings: recovery is set up by the drill, as for a -Fp backup), and the repository's WAL from the
backup's start on is fetched with `pgbackrest archive-get` into a flat directory: pgBackRest checks every file
against its checksum and decrypts it, and what it cannot give back is simply not there, for the archive's
continuity check to name. All of it happens in private copies under the run's work directory, with pgBackRest's
locks and logs there too; the repository is only read.

A WAL-G repository is recognised (basebackups_005/ and wal_005/) and reported "not run" with why: its restore would
go through `wal-g backup-fetch` / `wal-fetch`, and no wal-g binary is on these machines to build and prove it against.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pgdrill.scenarios.backups import layouts
from pgdrill.scenarios.backups.wal import SEGMENT_RE
from pgdrill.scenarios.verdicts.checks import NotRun
from pgdrill.scenarios.verdicts.result import DrillFailure

ARCHIVED = re.compile(r"([0-9A-F]{24})-[0-9a-f]{40}(?:\.\w+)?$")  # a segment in pgBackRest's archive
HISTORY = re.compile(r"[0-9A-F]{8}\.history$")
CIPHER = ("repo1-cipher-type", "repo1-cipher-pass")  # all a team's config may add


@dataclass(frozen=True)
class PgBackRest:
    """One stanza of a pgBackRest repository on this host, read through the pgbackrest command."""

    repo: Path
    stanza: str
    config: Path | None  # the team's pgbackrest.conf, when the repository needs it (a cipher pass)
    workdir: Path  # a private directory of the run's: pgBackRest's locks, logs and spool, and the copies

    @classmethod
    def of(cls, found: layouts.Found, config: Path | None, workdir: Path) -> PgBackRest:
        """The repository and stanza a backup set lives in (REPO/backup/STANZA/LABEL)."""
        if shutil.which("pgbackrest") is None:
            raise NotRun(f"{found.path} is a pgBackRest backup set, and no pgbackrest is installed here to restore it "
                         "(bash scripts/examples/pgbackrest/install.sh)")
        path = found.path.resolve()
        repo, stanza = path.parents[2] if len(path.parents) > 2 else path, path.parent.name
        if path.parent.parent.name != "backup" or not (repo / "archive" / stanza / "archive.info").is_file():
            raise DrillFailure("BASEBACKUP_CORRUPT", f"{found.path} is a pgBackRest backup set outside a repository's "
                                                     f"layout (REPO/backup/STANZA/SET beside REPO/archive/STANZA/"
                                                     "archive.info): give --backup-dir the repository")
        own = Path(tempfile.mkdtemp(prefix="pgbackrest-", dir=workdir))  # 0700: a production copy goes in it
        return cls(repo, stanza, config, own)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """pgbackrest on this repository only: its path and type on the command line (over any config), and no
        PGBACKREST_* variable of the environment (they would override both)."""
        command = ["pgbackrest", f"--config={self.private_config()}", f"--stanza={self.stanza}",
                   f"--repo1-path={self.repo}", "--repo1-type=posix", *args]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PGBACKREST_")}
        out = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
        if check and out.returncode != 0:
            raise DrillFailure("BASEBACKUP_CORRUPT", f"pgbackrest {args[0]} exited {out.returncode}: "
                                                     f"{out.stderr.strip()[-400:] or out.stdout.strip()[-400:]}")
        return out

    def private_config(self) -> Path:
        """The run's pgbackrest.conf (0600): the repository, with the team's repository options (a cipher) when its
        config is given, and locks, logs and spool in the run's directory; no pg1-* option of the team's (the data
        directory is the run's copy)."""
        private = self.workdir / "tool"
        config = private / "pgbackrest.conf"
        if config.exists():
            return config
        for name in ("lock", "log", "spool"):
            (private / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # option names as written
        if self.config:
            parser.read(self.config)
        out = configparser.ConfigParser(interpolation=None)
        out.optionxform = str  # type: ignore[assignment,method-assign]
        for section in ("global", self.stanza):  # of the team's config, only what reading an encrypted repository needs
            out[section] = {key: value for key, value in (parser[section] if parser.has_section(section) else {}).items()
                            if key in CIPHER}
        out["global"].update({"lock-path": str(private / "lock"),
                              "log-path": str(private / "log"), "spool-path": str(private / "spool"),
                              "log-level-console": "warn", "log-level-file": "off"})
        with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            out.write(handle)
        return config

    def restore(self, label: str, into: Path) -> layouts.Found:
        """The set as a plain data directory (its backup_label, no recovery settings), under the work directory."""
        into.mkdir(mode=0o700)
        # tablespaces under the copy too: by default pgBackRest writes them back to the paths production had
        self.run("restore", f"--set={label}", "--type=none", f"--pg1-path={into}",
                 f"--tablespace-map-all={self.workdir / 'tablespaces'}")
        return layouts.Found("physical", "plain", into, into.stat().st_mtime)

    def archived(self) -> dict[str, float]:
        """Every WAL file the repository's archive holds for the stanza: its name -> the file's mtime (when pgBackRest
        stored it, for the archive's age)."""
        out = self.run("repo-ls", f"archive/{self.stanza}", "--recurse", "--output=json")
        listing = json.loads(out.stdout or "{}")
        names: dict[str, float] = {}
        for path, entry in listing.items():
            base = path.rsplit("/", 1)[-1]
            match = ARCHIVED.match(base)
            name = match.group(1) if match else base if HISTORY.match(base) else None
            if name and entry.get("type") == "file":
                names[name] = float(entry.get("time", 0))
        return names

    def fetch(self, names: list[str], base: Path, into: Path) -> list[str]:
        """archive-get of each name into a flat directory, for the restored base (whose pg_control pgBackRest matches
        against the archive's database); returns those it refused, with its words (checksum, absent)."""
        into.mkdir(mode=0o700, exist_ok=True)
        refused = []
        for name in names:
            out = self.run("archive-get", f"--pg1-path={base}", name, str(into / name), check=False)
            if out.returncode != 0:
                refused.append(f"{name}: {(out.stderr or out.stdout).strip()[-200:]}")
        return refused

    def verify(self, label: str) -> str:
        """pgBackRest's own verification of the repository: every backup file and archived segment it holds against
        its checksum and size. Its exit status says only that it ran: the verdict is its report's status lines,
        the stanza's `status: ok` and the set's `status: valid` (a gap in the archive is not its to see: the
        continuity check names that)."""
        report = self.run("verify", "--output=text", "--verbose").stdout
        set_line = next((line.strip() for line in report.splitlines() if f"backup: {label}," in line), None)
        if "status: ok" not in report or set_line is None or "status: valid" not in set_line:
            raise DrillFailure("BASEBACKUP_CORRUPT", f"pgbackrest verify does not find set {label} valid: "
                                                     + " ".join(report.split())[-400:])
        return f"pgbackrest verify: stanza {self.stanza} status ok; {set_line}"

    def newest_at(self, found: layouts.Found, target: datetime | None) -> str:
        """The set to restore: the one found (the newest), or for a target the newest that ended before it."""
        if target is None:
            return found.path.name
        info = json.loads(self.run("info", "--output=json").stdout or "[]")
        sets = [(b["timestamp"]["stop"], b["label"]) for stanza in info if stanza.get("name") == self.stanza
                for b in stanza.get("backup", [])]
        before = [label for stop, label in sorted(sets) if stop <= target.timestamp()]
        if not before:
            raise DrillFailure("PITR_TARGET_BEFORE_BACKUP", f"no pgBackRest set of stanza {self.stanza} ended before "
                                                            f"the target {target.isoformat()}")
        return before[-1]


@dataclass(frozen=True)
class Materialized:
    """A repository's set in the stock layout: a plain data directory and a flat archive, in private copies."""

    label: str  # the set restored
    base: layouts.Found
    archive: Path
    stored: dict[str, float]  # every WAL file the repository holds -> when it was stored
    refused: list[str]  # what archive-get would not give back, with its words


def materialize(tool: PgBackRest, found: layouts.Found, target: datetime | None) -> Materialized:
    """The set (for a target: the newest before it) as a plain data directory, and the repository's WAL from its
    start on as a flat archive."""
    label = tool.newest_at(found, target)
    base = tool.restore(label, tool.workdir / "base")
    start_wal = layouts.START_WAL.search(layouts.backup_label(base) or "")
    start = start_wal.group(2) if start_wal else "0" * 24
    stored = tool.archived()
    wanted = sorted(name for name in stored if HISTORY.match(name) or (SEGMENT_RE.match(name) and name[8:] >= start[8:]
                                                                       and name[:8] >= start[:8]))
    archive = tool.workdir / "wal"
    return Materialized(label, base, archive, stored, tool.fetch(wanted, base.path, archive))


def is_walg_repository(path: Path) -> bool:
    return (path / "basebackups_005").is_dir() and (path / "wal_005").is_dir()


def walg_not_run(path: Path) -> str:
    """Why a WAL-G repository is not restore-tested here."""
    installed = shutil.which("wal-g")
    return (f"{path} is a WAL-G repository, restored through wal-g backup-fetch / wal-fetch: "
            + (f"pgdrill does not drive {installed} yet" if installed else "no wal-g binary is installed here"))
