"""Every finding code the suite can report, and what it means: the one list tests and reports rely on.

A finding is data (a stable code, a severity, one line); a code not listed here cannot be reported
(ScenarioResult.find refuses it), and tests/test_finding_codes.py holds that every code here is named
by a self-test under tests/ that makes it fire. Runbook defects (RunbookDefect) are a list of their
own, proved by drills/test_runbook_defects.py.
"""

from __future__ import annotations

FINDINGS: dict[str, str] = {
    # the backup itself
    "DUMP_TRUNCATED": "a dump cannot be read to its end (cut short or corrupt)",
    "BASEBACKUP_CORRUPT": "a base backup will not extract, or pg_verifybackup rejects it",
    "DUMP_SHELL_ESCAPE": "a SQL backup holds psql meta-commands pg_dump never writes (a shell, a file read): not run",
    "BACKUP_UNSAFE_MEMBER": "a backup archive holds a device, FIFO, setuid file, or a name or link outside its tree",
    "BACKUP_EXPANSION_LIMIT": "a backup expands past its bound (segment size, a multiple of its input, free disk)",
    "BACKUP_EMPTY": "a backup script exited 0 having written nothing",
    "BACKUP_WRONG_DATABASE": "a dump is of another database than the one to protect",
    "BACKUP_NO_MANIFEST": "a backup set lacks the manifest the contract requires",
    "BACKUP_MANIFEST_MISMATCH": "a backup file differs from its manifest (size or sha256)",
    "BACKUP_SCRIPT_HUNG": "the backup script ran past its time limit",
    "BACKUP_SCRIPT_FAILED": "the backup script exited non-zero",
    "RESTORE_SCRIPT_HUNG": "the restore script ran past its time limit",
    "RESTORE_SCRIPT_FAILED": "the restore script exited non-zero",
    "SETUP_SCRIPT_HUNG": "a script set's setup.sh ran past its time limit",
    "SETUP_SCRIPT_FAILED": "a script set's setup.sh exited non-zero (its tool cannot be set up for this server)",
    "BACKUP_VERIFY_FAILED": "the backup tool's own verification (the set's verify.sh) rejects the backup taken",
    "BACKUP_STALE": "the newest dump is older than the logical RPO allows",
    "BASE_BACKUP_OVERDUE": "the newest base backup is older than its schedule (--base-backup-interval)",
    "ARCHIVE_LAG": "the newest archived WAL is older than the physical RPO allows",
    # the drill programme over time (reports/history.py)
    "DRILL_OVERDUE": "a scheduled scenario's last pass in the drill history is older than its schedule",
    # the WAL archive and recovery
    "ARCHIVING_FAILED": "archive_command fails, or the segment it reports archived cannot be read back",
    "WAL_SEGMENT_MISSING": "a segment between the backup's start and the archive's end is missing",
    "WAL_CORRUPT": "an archived segment holds a corrupt record",
    "WAL_UNREADABLE": "pg_waldump cannot read the archived range",
    "WAL_FOREIGN_SEGMENT": "an archived segment belongs to another database system than the backup",
    "BACKUP_WAL_MISSING": "the WAL the base backup needs is neither in pg_wal nor in the archive",
    "RECOVERY_ENDED_EARLY": "the server promoted before replaying the archive's last segment",
    "RECOVERY_UNCONFIRMED": "the server did not say where redo ended",
    "WAL_REPLAY_SKIPPED": "a restore started the server without archive recovery",
    "RUNBOOK_STEP_FAILED": "a runbook step, run as written in the sandbox, failed (exit status, output, and the known defects written there)",
    "SERVER_DID_NOT_START": "the restored server exited during startup",
    "RECOVERY_CONF_UNSUPPORTED": "the restored server refuses to start: recovery.conf (PostgreSQL 12+)",
    "RESTORE_FAILED": "pg_restore stopped on an error that is not a truncation",
    "HNSW_BUILD_SPILLED": "(warning) a restored HNSW index outgrew maintenance_work_mem and was built on disk, slowly",
    "ROLES_RESTORE_FAILED": "the globals dump (roles) did not restore",
    "RESTORE_ERRORS": "a restore reported errors",
    "EXTENSION_MISSING": "a restore needs an extension the server lacks",
    # PITR
    "PITR_TARGET_BEFORE_BACKUP": "the recovery target lies before the base backup's consistency point",
    "PITR_TARGET_AFTER_ARCHIVE_END": "the recovery target lies after the last archived commit",
    "PITR_MISSED_COMMITS": "commits at or before the target are missing after recovery",
    "PITR_OVERSHOT": "commits after the target are present after recovery",
    "PITR_STOP_UNCONFIRMED": "the server did not log where it stopped ('recovery stopping before commit')",
    "PITR_UNPROVEN": "no markers on one side of the target: exactness cannot be shown",
    # what came back
    "ROLES_MISSING": "roles that existed are gone (or a restore needs roles nobody created)",
    "SCHEMA_MISMATCH": "objects of some schema are missing or unexpected",
    "DEFINITION_MISMATCH": "a view, function, trigger, policy, default, constraint or index is defined differently",
    "OWNERSHIP_MISMATCH": "objects are owned by another role than before",
    "PRIVILEGES_MISMATCH": "grants or default privileges differ from before",
    "LARGE_OBJECTS_MISMATCH": "large objects are missing, extra or changed",
    "APP_ROLE_CANNOT_READ": "the application's role cannot log in or read its data",
    "DATA_MISMATCH": "row counts or content hashes differ from the recovery point",
    "EMPTY_RESTORE": "the restored database holds no rows",
    "MATVIEW_UNPOPULATED": "materialized views came back unpopulated",
    "SEQUENCE_BEHIND": "a sequence lies behind its column's max (the next insert collides)",
    "FK_ORPHANS": "rows point to parent rows that do not exist",
    "INDEX_INVALID": "an index is invalid or not ready",
    "PGVECTOR_MISMATCH": "vector search returns other neighbours, dimensions or recall than before",
    "PGVECTOR_INDEX_UNUSED": "the HNSW index is not used for kNN search",
    "CHECKSUM_FAILURE": "pg_checksums found corrupt pages",
    # loss and time
    "ARCHIVED_DATA_LOST": "acknowledged commits were lost although their WAL had been archived",
    "UNARCHIVED_WAL_LOST": "(info) acknowledged commits lived only in the unarchived WAL tail",
    "ARCHIVE_NOT_SAVED_LOSS": "(info) what the rebuild would lose without saving the archive first",
    "RPO_LOWER_BOUND": "(warning) every marker was lost: the RPO reaches back past the workload",
    "RPO_UNBOUNDED": "the configuration allows an unbounded loss (archive_timeout = 0, no dump interval)",
    "RPO_BREACH": "the measured loss or the configuration's bound exceeds the RPO target",
    "RTO_BREACH": "recovery took longer than the RTO target",
    "FORECAST_RTO_BREACH": "the RTO forecast at production size exceeds the target",
    "WORKLOAD_FAILED": "the drill's writer failed before the disaster",
    # the source of a real-backup test
    "SOURCE_MODIFIED": "files of the tested backup changed during the test",
    "SOURCE_ARCHIVE_TARGETED": "the restored server would archive into the source archive",
}


# Where the runbook's own text is wrong on PostgreSQL 16, proved by running its literal commands (a list of their
# own: they go to summary.json's runbook_defects, not into a scenario's verdict). RunbookDefect refuses others.
RUNBOOK_DEFECTS: dict[str, str] = {
    "RECOVERY_CONF_UNSUPPORTED": "Scenario 2 writes recovery.conf, which PostgreSQL 12+ refuses to start with",
    "AUTO_CONF_OVERWRITTEN": "Scenario 3 overwrites postgresql.auto.conf, losing the ALTER SYSTEM settings restored",
    "EXEC_ON_STOPPED_CONTAINER": "docker exec after docker stop: nothing is wiped or extracted",
    "PG_WAL_TAR_IGNORED": "only base.tar.gz is extracted, not the pg_wal.tar.gz the backup needs",
    "BASEBACKUP_SLOW_CHECKPOINT": "pg_basebackup without --checkpoint=fast waits for the next checkpoint",
    "ARCHIVE_COMMAND_NOT_DURABLE": "`test ! -f && cp` neither syncs nor survives a copy cut short",
    "ARCHIVE_NOT_ON_VOLUME": "the WAL archive lives in the container, not on a volume: docker rm takes it",
    "RPO_CLAIM_WITHOUT_ARCHIVE_TIMEOUT": "an RPO of minutes claimed with archive_timeout = 0 (unbounded)",
    "NOW_AS_PITR_PROOF": "SELECT now() offered as proof of where PITR stopped",
    "REPLAY_RESUME_MISDESCRIBED": "pg_wal_replay_resume() described as skipping missing WAL",
    "CURRENT_LSN_DURING_RECOVERY": "pg_current_wal_lsn() suggested during recovery, where it errors",
    "CHECKLIST_CANNOT_FAIL": "the verification queries cannot fail (sizes summed, a count always >= 1)",
    "SQLALCHEMY2_STRING_EXECUTE": "conn.execute('SELECT 1') fails on SQLAlchemy 2",
    "DROP_DATABASE_IN_USE": "DROP DATABASE without WITH (FORCE) fails while anything is connected",
    "ROLES_NOT_IN_DUMP": "pg_dump carries no roles: ownership and grants fail without a globals dump",
    "RESTORE_ERRORS_IGNORED": "pg_restore without --exit-on-error goes on after errors",
    "TABLE_DUMP_MISSES_DEPENDENCIES": "pg_dump -t leaves out what the tables depend on (the vector extension)",
    "HNSW_RESTORE_MEMORY": "the restore builds the HNSW index with the server's maintenance_work_mem, spilling",
    "RETENTION_DELETES_WEEKLY_MONTHLY": "the cleanup's find -mtime +7 deletes the weekly and monthly dumps too",
    "WAL_AGE_CLEANUP_BREAKS_BACKUPS": "deleting WAL by age breaks the base backups still kept",
}


def defect_meaning(code: str) -> str:
    """What a runbook-defect code means; an unknown code is a programming error."""
    try:
        return RUNBOOK_DEFECTS[code]
    except KeyError:
        raise ValueError(f"unknown runbook-defect code {code!r}: add it to scenarios/verdicts/findings.py") from None


def meaning(code: str) -> str:
    """What a code means; an unknown code is a programming error, not a finding."""
    try:
        return FINDINGS[code]
    except KeyError:
        raise ValueError(f"unknown finding code {code!r}: add it to scenarios/verdicts/findings.py with a self-test") from None
