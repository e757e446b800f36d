"""The runbook drilled as written, in the sandbox (docker backend): the platform team's runbook stops at the steps
RUNBOOK-DEFECTS predicts, with those codes; the corrected runbook (docs/runbook/DR-PROCEDURES.md) recovers as
written, within its own tables' targets; a mistake written into it fails exactly its step; and the runbook's docker
acts only on the run's own objects, whatever else of those names the engine holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdrill.scenarios import runbook_drill
from pgdrill.scenarios.runbook.document import read

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent
AS_WRITTEN = HERE / "runbooks" / "platform-as-written.md"
CORRECTED = HERE.parent / "docs" / "runbook" / "DR-PROCEDURES.md"
LEDGER_COMPOSE = HERE / "runbooks" / "ledger-compose.yml"


def drill(path: Path, number: int, drill_context, open_sandbox, compose_file: Path | None = None):
    book = read(path)
    scenario = next(s for s in book.scenarios if s.number == number)
    return runbook_drill.run(drill_context, book, scenario, lambda cluster: open_sandbox(book, cluster, compose_file))


def steps(result) -> dict[str, str]:
    return {f"{s['section']} {s['number'] or s['title']}": s["status"] for s in result.facts["runbook_steps"]}


@pytest.mark.parametrize("number, step, lines, codes", [
    (1, 2, "89-91", ["DROP_DATABASE_IN_USE"]),
    (2, 2, "115-116", ["EXEC_ON_STOPPED_CONTAINER"]),
    (3, 3, "153-158", ["AUTO_CONF_OVERWRITTEN", "EXEC_ON_STOPPED_CONTAINER"]),
    (4, 1, "180-181", []),  # `docker cp ... ./backups/wal_archive_...`: the runbook never makes ./backups
])
def test_the_runbook_as_written_stops_where_its_defects_are(number, step, lines, codes, drill_context, open_sandbox):
    result = drill(AS_WRITTEN, number, drill_context, open_sandbox)
    assert "RUNBOOK_STEP_FAILED" in {f.code for f in result.findings}, result.explain()
    assert result.failure.startswith(f"Scenario {number} fails as written at step {step} (lines {lines}):"), result.failure
    for code in codes:
        assert "known defects written there: " in result.failure and code in result.failure, result.failure
    table = steps(result)
    assert table[f"Scenario {number} {step}"] == "failed", table
    assert step == 1 or table[f"Scenario {number} 1"] == "passed", table
    assert table["the backup section Copy backup from container"] == "failed", table  # no ./backups to copy into
    if number == 3:
        assert table["Scenario 3 2"] == "not_run", table  # "see Scenario 2 steps 2-3": no command of its own


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_the_corrected_runbook_recovers_as_written_within_its_own_targets(number, drill_context, open_sandbox):
    result = drill(CORRECTED, number, drill_context, open_sandbox)
    assert result.status == "passed", result.explain()
    assert set(steps(result).values()) == {"passed"}, steps(result)
    assert result.facts["targets_from"]["rto"].startswith("DR-PROCEDURES.md line "), result.facts["targets_from"]
    assert result.rto_seconds <= result.rto_target_seconds and result.rpo_bound_seconds is not None
    health = next(c for c in result.checks if c.name == "application health URLs")
    assert health.status == "passed" and "11 health URLs answered 200" in health.detail, health  # its 11 services
    if number == 3:
        assert result.facts["pitr_exact"] is True and result.facts["recovery_stop"].startswith("recovery stopping")
    if number in (2, 4):  # 4: docker-compose up of the run's compose project, in place of the runbook's file
        assert result.facts["recovery_settings_left"] == [] and result.facts["timeline"] == 2


def test_a_mistake_written_into_a_step_fails_that_step(tmp_path, drill_context, open_sandbox):
    mistaken = tmp_path / "DR-PROCEDURES.md"
    text = CORRECTED.read_text()
    wrong = "pg_restore -U postgres -d agentic_platfrom --exit-on-error"
    mistaken.write_text(text.replace("pg_restore -U postgres -d agentic_platform --exit-on-error", wrong))
    result = drill(mistaken, 1, drill_context, open_sandbox)
    assert result.failure.startswith("Scenario 1 fails as written at step 3 ("), result.failure
    assert 'database "agentic_platfrom" does not exist' in result.failure, result.failure


def test_services_a_runbook_stops_and_never_starts_fail_the_checklist(tmp_path, drill_context, open_sandbox):
    """Scenario 1 without its step 5: the services it stopped stay down, and their /health says so."""
    text = CORRECTED.read_text()
    start = text.index("# 5. Restart services")
    forgetful = tmp_path / "DR-PROCEDURES.md"
    forgetful.write_text(text[:start] + "# 5. Restart services (forgotten)\n" + text[text.index("```", start):])
    result = drill(forgetful, 1, drill_context, open_sandbox)
    health = next(c for c in result.checks if c.name == "application health URLs")
    assert result.status == "failed" and health.status == "failed", result.explain()


def test_the_runbooks_docker_touches_only_the_runs_objects(make_cluster, drill_context, open_sandbox, tmp_path):
    """A container named agentic-postgres that the run did not create, on the same engine, stays untouched."""
    book = read(AS_WRITTEN)
    cluster = make_cluster("rb-names")
    client = cluster.engine.client
    foreign = client.containers.run(cluster.image, ["sleep", "infinity"], entrypoint=[], name="agentic-postgres",
                                    detach=True, network_mode="none")
    try:
        sandbox = open_sandbox(book, cluster)
        try:
            reads = sandbox.run_step('docker exec -i agentic-postgres psql -U postgres -c "SELECT 1"\necho next-line', 60)
            stop = sandbox.run_step("docker stop agentic-postgres", 120)
            refused = sandbox.run_step("docker stop agentic-postgres-2", 60)
            bind = sandbox.run_step("docker run --rm -v /:/host pgvector/pgvector:pg16 ls /host", 60)
            local = sandbox.run_step(f"mkdir -p {tmp_path} && touch {tmp_path}/written-by-the-runbook && rm -rf /tmp/*", 60)
        finally:
            sandbox.close()
        foreign.reload()
        assert reads.exit_status == 0 and "next-line" in reads.stdout, reads  # `exec -i` does not eat the step
        assert stop.exit_status == 0 and foreign.status == "running", (stop, foreign.status)
        assert not cluster.is_running()  # the run's agentic-postgres is the one stopped
        assert refused.exit_status == 1 and "refusing container 'agentic-postgres-2'" in refused.stderr, refused
        assert bind.exit_status == 1 and "a bind mount of a host path" in bind.stderr, bind
        assert local.exit_status == 0 and not (tmp_path / "written-by-the-runbook").exists()  # the shell's own /tmp
    finally:
        foreign.remove(force=True, v=True)  # the image declares a data VOLUME: its anonymous one goes too


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_another_teams_runbook_passes_where_right_and_fails_at_its_mistake(number, drill_context, open_sandbox):
    """ledger.md: container ledger-db, database and role ledger, service ledger-api, volume ledger_pgdata, archive
    /srv/ledger/wal, its own compose file and targets; its one mistake (Scenario 3 step 3, `cat >` over
    postgresql.auto.conf) wipes the archiving settings."""
    result = drill(HERE / "runbooks" / "ledger.md", number, drill_context, open_sandbox, LEDGER_COMPOSE)
    assert set(steps(result).values()) == {"passed"}, steps(result)  # every step runs as written, under its names
    assert result.facts["targets_from"]["rto"].startswith("ledger.md line "), result.facts["targets_from"]
    assert result.facts["archive_directory"] == "/srv/ledger/wal"  # where its archive_command writes
    if number == 4:  # its compose file's service, as declared, with the run's names; what changed is said
        applied = result.facts["compose_file"]
        assert applied["service"] == "ledger-db", applied
        assert any("environment POSTGRES_PASSWORD: left out" in c for c in applied["applied_as"]), applied
        assert any("./ledger/pg_hba.conf:/etc/ledger/pg_hba.conf" in c for c in applied["applied_as"]), applied
        assert any("restart: not applied" in c for c in applied["applied_as"]), applied
    if number != 3:
        assert result.status == "passed", result.explain()
        assert result.facts["known_defects_in_steps_run"] == []
        return
    assert result.status == "failed", result.explain()
    failed = [c for c in result.checks if c.status == "failed"]
    assert [c.name for c in failed] == ["WAL archiving after recovery"] and "archive_mode is 'off'" in failed[0].detail
    assert result.facts["known_defects_in_steps_run"] == [
        "Scenario 3 step 3 (lines 84-89): AUTO_CONF_OVERWRITTEN (Scenario 3 overwrites postgresql.auto.conf, losing "
        "the ALTER SYSTEM settings restored)"]
