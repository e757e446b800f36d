"""Where the self-tests break recovery on purpose: one typed hook per injection point.

A scenario calls a hook only where one is set. The dataclass has slots: a self-test that sets a misspelled
hook gets an AttributeError at once, never a fault silently not injected; and mypy holds each call in the
scenarios to the hook's signature (one signature per point: a dump is not a base backup).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pgdrill.fixtures.contract import Cluster

if TYPE_CHECKING:
    from pgdrill.scenarios.backups.basebackup import BaseBackup

Settings = dict[str, str]


@dataclass(slots=True)
class Faults:
    """Each hook, what it is handed, and (where it returns something) what its answer replaces."""

    after_dump: Callable[[Path], None] | None = None  # Scenario 1: the dump just taken (globals.sql beside it)
    after_base_backup: Callable[[BaseBackup, Cluster], None] | None = None  # 2, 3: the backup, its running source
    after_disaster: Callable[[Cluster, BaseBackup], None] | None = None  # 2: the lost cluster, the backup
    after_rebuild_disaster: Callable[[Cluster, Path], None] | None = None  # 4: the destroyed service, the saved archive
    before_start: Callable[[Cluster], None] | None = None  # 2, 3: files restored, server not started
    before_verify: Callable[[Cluster], None] | None = None  # every scenario: recovered, not yet verified
    restore_command: Callable[[Cluster], str] | None = None  # replaces the runbook's restore_command
    restore_options: Callable[[], list[str]] | None = None  # 1: added to pg_restore's options
    pitr_target: Callable[[datetime, BaseBackup], datetime] | None = None  # 3: replaces the target judged by
    pitr_settings: Callable[[Settings], Settings] | None = None  # 3: replaces the server's recovery settings
    after_restore: Callable[[Path], None] | None = None  # real backups: the dump, once restored
    restored_settings: Callable[[Settings], Settings] | None = None  # real backups: replaces the copy's settings
