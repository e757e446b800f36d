"""Which engine DOCKER_HOST names, and where its published ports are reached from the test process."""

from __future__ import annotations

import pytest

from pgdrill.fixtures.config import ConfigError, resolve
from pgdrill.fixtures.engine import engine_address


@pytest.mark.parametrize("docker_host, connect, publish, remote", [
    ("", "127.0.0.1", "127.0.0.1", False),
    ("unix:///var/run/docker.sock", "127.0.0.1", "127.0.0.1", False),
    ("tcp://127.0.0.1:2375", "127.0.0.1", "127.0.0.1", False),
    ("tcp://docker:2375", "docker", "0.0.0.0", True),  # GitLab's docker:dind service
    ("ssh://drill@db-host.example", "db-host.example", "0.0.0.0", True),
])
def test_published_ports_are_reached_on_the_engines_host(docker_host, connect, publish, remote):
    address = engine_address(docker_host)
    assert (address.connect_host, address.publish_address, address.remote) == (connect, publish, remote)


@pytest.mark.parametrize("bad", ["docker:2375", "ftp://host", "tcp://:2375"])
def test_a_docker_host_that_is_no_engine_address_is_one_sentence(bad):
    with pytest.raises(ConfigError, match="is not unix://PATH, tcp://HOST:PORT or ssh://"):
        engine_address(bad)


def test_docker_host_is_read_from_the_standard_variable_unless_pgdrill_names_one():
    assert resolve({}, {}, {"DOCKER_HOST": "tcp://docker:2375"}).docker_host == "tcp://docker:2375"
    both = {"DOCKER_HOST": "tcp://docker:2375", "PGDRILL_DOCKER_HOST": "ssh://drill@other"}
    assert resolve({}, {}, both).docker_host == "ssh://drill@other"
    assert resolve({"docker_host": "unix:///run/d.sock"}, {}, both).docker_host == "unix:///run/d.sock"
