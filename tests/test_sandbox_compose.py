"""A team's compose file in the sandbox (fixtures/sandbox/compose.py): its PostgreSQL service keeps how the team runs
PostgreSQL and takes the run's names, volumes and network; every change is said; a file that cannot stand for the
run's service is refused with why. (The ledger drill in test_runbook_sandbox runs one for real.)"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml

from pgdrill.fixtures.docker_cluster import DockerCluster
from pgdrill.fixtures.sandbox.compose import ComposeFileError, derive

LEDGER = Path(__file__).resolve().parent / "runbooks" / "ledger-compose.yml"


def the_run(network: str = "host") -> DockerCluster:
    """The attributes of a run's cluster that a derivation reads (no server: nothing here starts one)."""
    return cast(DockerCluster, SimpleNamespace(
        container_name="pgdrill-abc-07-rb-s4", image="pgdrill/pgvector:16-offline", labels={"pgdrill.run": "abc"},
        archive_location="/srv/ledger/wal", data_volume="pgdrill-abc-data", archive_volume="pgdrill-abc-wal",
        network=network, port=15433, engine=SimpleNamespace(address=SimpleNamespace(publish_address="127.0.0.1"))))


def derived(tmp_path: Path, source: Path = LEDGER, network: str = "host") -> tuple[dict[str, Any], list[str]]:
    team = derive(source, "ledger-db", the_run(network), tmp_path / "compose")
    assert (team.file.stat().st_mode & 0o777) == 0o600
    return yaml.safe_load(team.file.read_text())["services"][team.service], team.changes


def test_the_teams_service_runs_as_the_runs_container_as_the_team_declares_it(tmp_path):
    service, changes = derived(tmp_path)
    assert service["container_name"] == "pgdrill-abc-07-rb-s4" and service["image"] == "pgdrill/pgvector:16-offline"
    assert service["command"] == ["postgres", "-c", "shared_buffers=256MB", "-c", "hba_file=/etc/ledger/pg_hba.conf",
                                  "-p", "15433", "-c", "listen_addresses=127.0.0.1"]
    assert service["volumes"][:2] == ["pgdrill_data:/var/lib/postgresql/data", "pgdrill_archive:/srv/ledger/wal"]
    beside = Path(service["volumes"][2].split(":")[0])
    assert service["volumes"][2].endswith(":/etc/ledger/pg_hba.conf:ro") and beside.read_text().startswith("# ledger")
    assert service["environment"] == {"POSTGRES_USER": "ledger", "POSTGRES_DB": "ledger", "PGPORT": "15433"}
    assert service["network_mode"] == "host" and "ports" not in service and service["shm_size"] == "256m"
    assert service["labels"]["pgdrill.run"] == "abc" and "restart" not in service
    assert "environment POSTGRES_PASSWORD: left out (a secret; the data volume is initialised)" in changes
    assert "restart: not applied in the sandbox" in changes
    assert changes[0] == ("service 'ledger-db' runs as container pgdrill-abc-07-rb-s4 from image "
                          "pgdrill/pgvector:16-offline (written: pgvector/pgvector:pg16)")


def test_on_a_bridge_network_the_port_is_published_where_the_run_publishes(tmp_path):
    service, _ = derived(tmp_path, network="bridge")
    assert service["ports"] == ["127.0.0.1::5432"] and "network_mode" not in service and "-p" not in service["command"]


@pytest.mark.parametrize("text, why", [
    ("just: text\n", "no services"),
    ("services:\n  a: {image: redis}\n  b: {image: nginx}\n", "cannot tell the PostgreSQL service"),
    ("services:\n  db: {image: 'postgres:16', command: bash -c 'sleep 1', volumes: ['d:/var/lib/postgresql/data']}\n",
     "the service's command starts 'bash', not postgres"),
    ("services:\n  db: {image: 'postgres:16', volumes: ['../secrets:/etc/x']}\n",
     "../secrets is not a file or directory beside the compose file"),
    ("services:\n  db: {image: 'postgres:16', volumes: ['/etc:/etc/host']}\n", "mounts nothing at its data directory"),
    ("services: [\n", "not a readable compose file"),
])
def test_a_file_that_cannot_stand_for_the_service_is_refused_with_why(tmp_path, text, why):
    source = tmp_path / "compose.yml"
    source.write_text(text)
    with pytest.raises(ComposeFileError, match=why.replace("(", r"\(").replace(".", r"\.")):
        derive(source, None, the_run(), tmp_path / "compose")


def test_nothing_of_this_host_reaches_the_container_through_the_teams_file(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pg.conf").write_text("shared_buffers = 128MB\n")
    (tmp_path / "conf" / "key").symlink_to("/etc/hostname")
    (tmp_path / "compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n    environment: {NOTE: '${CI_JOB_TOKEN}', PGDATA: /var/lib/postgresql/data}\n"
        "    command: postgres -c cluster_name=${HOSTNAME}\n    volumes: ['d:/var/lib/postgresql/data', './conf:/etc/x']\n")
    with pytest.raises(ComposeFileError, match="conf holds a link or a special file"):
        derive(tmp_path / "compose.yml", None, the_run(), tmp_path / "out")
    (tmp_path / "conf" / "key").unlink()
    team = derive(tmp_path / "compose.yml", None, the_run(), tmp_path / "out")
    service = yaml.safe_load(team.file.read_text())["services"]["db"]
    assert service["environment"]["NOTE"] == "$${CI_JOB_TOKEN}"  # compose reads it literally, expands nothing
    assert "cluster_name=$${HOSTNAME}" in service["command"]
    assert "variables CI_JOB_TOKEN, HOSTNAME: kept as written, not expanded from this host's environment" in team.changes
