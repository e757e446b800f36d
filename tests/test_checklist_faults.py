"""What a restore can lose although every row comes back: each loss, made on a real cluster after the
snapshot, fails exactly the checklist item that sees it (and row counts and hashes stay equal, which
is why the item is needed). The healthy direction: an untouched cluster passes every item."""

from __future__ import annotations

import pytest

from pgdrill.fixtures.seed import APP_ROLE, DATABASE, READER_ROLE
from pgdrill.scenarios.proofs import checklist

pytestmark = pytest.mark.slow


def failed_codes(checks) -> dict[str, str]:
    return {c.code or c.name: c.detail for c in checks if c.status == "failed"}


@pytest.fixture
def snapshotted(make_cluster, pg_installation):
    cluster = make_cluster("checklist")
    return cluster, checklist.take_snapshot(cluster, DATABASE)


def verify(cluster, snap, pg_installation):
    return checklist.verify(cluster, snap, pg_installation, physical=True)


def test_untouched_cluster_passes_every_item(snapshotted, pg_installation):
    cluster, snap = snapshotted
    checks = verify(cluster, snap, pg_installation)
    assert not failed_codes(checks), failed_codes(checks)
    assert snap.catalog["large objects"] and snap.catalog["privileges"], "the seed must carry what is compared"


LOSSES = [
    # the fault (SQL on the platform database)                             the finding   words in its detail
    pytest.param("DROP TRIGGER tasks_audit ON tasks", "SCHEMA_MISMATCH", "trigger tasks.tasks_audit", id="trigger dropped"),
    pytest.param("DROP POLICY goals_reader ON goals", "SCHEMA_MISMATCH", "policy goals.goals_reader", id="policy dropped"),
    pytest.param("CREATE OR REPLACE FUNCTION audit.log_task() RETURNS trigger LANGUAGE plpgsql "
                 "AS $$ BEGIN RETURN NEW; END $$", "DEFINITION_MISMATCH", "function audit.log_task()", id="function body changed"),
    pytest.param("CREATE OR REPLACE VIEW audit.open_tasks AS SELECT id, title, state FROM tasks",
                 "DEFINITION_MISMATCH", "view audit.open_tasks", id="view definition changed"),
    pytest.param("ALTER TABLE audit.task_events ALTER COLUMN event DROP DEFAULT", "DEFINITION_MISMATCH",
                 "column audit.task_events.event", id="column default lost"),
    pytest.param("ALTER TABLE goals DISABLE ROW LEVEL SECURITY", "DEFINITION_MISMATCH",
                 "row level security goals", id="row level security off"),
    pytest.param("ALTER TABLE tasks OWNER TO postgres", "OWNERSHIP_MISMATCH", "table public.tasks", id="owner changed"),
    pytest.param(f"REVOKE SELECT ON agents FROM {READER_ROLE}", "PRIVILEGES_MISMATCH", "table public.agents", id="grant lost"),
    pytest.param(f"ALTER DEFAULT PRIVILEGES FOR ROLE {APP_ROLE} IN SCHEMA audit "
                 f"REVOKE SELECT ON TABLES FROM {READER_ROLE}", "PRIVILEGES_MISMATCH",
                 "default privileges", id="default privileges lost"),
    pytest.param("SELECT lo_unlink(oid) FROM pg_largeobject_metadata", "LARGE_OBJECTS_MISMATCH",
                 "missing: large object", id="large object lost"),
    pytest.param(f"ALTER ROLE {APP_ROLE} NOLOGIN", "APP_ROLE_CANNOT_READ",
                 f"the application role {APP_ROLE} cannot read", id="application role cannot log in"),
]


CORRUPTIONS = [
    # faults that change rows too (so DATA_MISMATCH may fire as well); the named item must fire
    pytest.param("SET session_replication_role = replica; "
                 "DELETE FROM goals WHERE id IN (SELECT goal_id FROM tasks ORDER BY id LIMIT 3)",
                 "FK_ORPHANS", "rows of tasks point to missing goals rows", id="foreign key orphans"),
    pytest.param("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'tasks_state_idx'::regclass",
                 "INDEX_INVALID", "tasks_state_idx", id="index invalid"),
    pytest.param("UPDATE goals SET embedding = array_fill(0, ARRAY[32])::vector WHERE id <= 20",
                 "PGVECTOR_MISMATCH", "exact nearest neighbours differ", id="vectors changed"),
    pytest.param("UPDATE pg_index SET indisvalid = false "
                 "WHERE indexrelid = 'goals_embedding_hnsw'::regclass",
                 "PGVECTOR_INDEX_UNUSED", "is not used for", id="HNSW index not usable"),
]


def inject(snapshotted, pg_installation, sql: str, code: str, words: str) -> dict[str, str]:
    """Run the fault's SQL after the snapshot; assert its item fails with its code and words; return all failures."""
    cluster, snap = snapshotted
    cluster.query(sql, dbname=DATABASE)
    failed = failed_codes(verify(cluster, snap, pg_installation))
    assert code in failed, failed
    assert words in failed[code], failed[code]
    return failed


@pytest.mark.parametrize("sql, code, words", LOSSES)
def test_each_loss_fails_its_own_item(sql, code, words, snapshotted, pg_installation):
    failed = inject(snapshotted, pg_installation, sql, code, words)
    assert "DATA_MISMATCH" not in failed, "row counts and hashes cannot see this loss; the item above must"


@pytest.mark.parametrize("sql, code, words", CORRUPTIONS)
def test_each_corruption_fails_its_item(sql, code, words, snapshotted, pg_installation):
    if code.startswith("PGVECTOR") and pg_installation.pgvector_version is None:
        pytest.skip(f"not run: pgvector is not installed in {pg_installation.bindir}")
    inject(snapshotted, pg_installation, sql, code, words)


def test_a_role_gone_after_recovery(make_cluster, pg_installation):
    cluster = make_cluster("roles")
    cluster.query("CREATE ROLE pgdrill_vanishing")
    snap = checklist.take_snapshot(cluster, DATABASE)
    cluster.query("DROP ROLE pgdrill_vanishing")
    failed = failed_codes(verify(cluster, snap, pg_installation))
    assert "ROLES_MISSING" in failed and "pgdrill_vanishing" in failed["ROLES_MISSING"], failed
