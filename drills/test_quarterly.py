"""The quarterly drill: Scenario 4, the complete system rebuild, on a Docker engine with docker-compose."""

from __future__ import annotations

import shutil

import pytest

from drills.test_monthly import label, record
from pgdrill.fixtures.app import HealthApp
from pgdrill.fixtures.compose import ComposeService, compose_environment, compose_files, environment
from pgdrill.scenarios import rebuild

pytestmark = [pytest.mark.quarterly, pytest.mark.docker]


def compose_cluster(cluster_factory, drill_config, name: str, scale: float | None = None):
    """A cluster for Scenario 4: volumes seeded from the template (at scale), its container made by compose."""
    if drill_config.pg_backend != "docker":
        pytest.skip("not run: Scenario 4 (complete rebuild) needs --pg-backend docker")
    if shutil.which("docker-compose") is None:
        pytest.skip("not run: docker-compose is not installed (docker/setup-engine.sh installs it)")
    return cluster_factory.track(cluster_factory.driver.compose_cluster(
        name, cluster_factory.seeded_template(scale).source, cluster_factory.password))


@pytest.fixture(scope="session")
def rebuild_cluster(cluster_factory, drill_config):
    """The cluster Scenario 4 rebuilds."""
    return compose_cluster(cluster_factory, drill_config, "s4-rebuild")


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker-compose"


@pytest.fixture(scope="session")
def docker_compose_file(rebuild_cluster) -> list[str]:
    return compose_files(rebuild_cluster.network)


@pytest.fixture(scope="session")
def docker_compose_project_name(rebuild_cluster) -> str:
    return f"pgdrill{rebuild_cluster.run_id[-8:]}"


@pytest.fixture(scope="session")
def docker_setup():
    return []  # `up` happens inside the drill (see fixtures/compose.py)


@pytest.fixture(scope="session")
def docker_cleanup():
    return ["down -v --remove-orphans"]


@pytest.fixture(scope="session")
def compose_env(rebuild_cluster):
    with environment(compose_environment(rebuild_cluster)):
        yield


def test_complete_rebuild(compose_env, docker_services, rebuild_cluster, drill_context, drill_config,
                          pg_installation, request):
    label(request, drill_config, pg_installation, "complete_rebuild", "Scenario 4: Complete System Rebuild")
    app = HealthApp(lambda: rebuild_cluster.connect("agentic_platform"))
    try:
        result = rebuild.run(drill_context, ComposeService(docker_services, rebuild_cluster), app)
    finally:
        app.close()
    record(request, result)
    assert result.status == "passed", result.explain()
