"""The runbook sandbox's name mapping (fixtures/sandbox/names.py) and example values (scenarios/runbook/values.py):
a runbook's docker words become calls on the run's own objects, and anything else is refused with its reason."""

from __future__ import annotations

import pytest

from pgdrill.fixtures.sandbox.names import Names, Refused, as_written, translate, translate_compose
from pgdrill.scenarios.runbook.values import NothingMatches, substitute

NAMES = Names(containers={"agentic-postgres": "pgdrill-abc-rb", "l01-data-layer": "pgdrill-abc-svc-l01"},
              volumes={"story-portal-app_postgres_data": "pgdrill-abc-rb-data"}, image="pgdrill/pgvector:16-offline",
              labels={"pgdrill.run": "abc"}, exec_env={"pgdrill-abc-rb": {"PGPORT": "15432"}}, prefix="pgdrill-abc-rb",
              compose_files=("platform/docker-compose.app.yml",))


def test_the_runbooks_names_become_the_runs_objects():
    assert translate(("stop", "-t", "120", "agentic-postgres"), NAMES, "/root").argv == (
        "stop", "-t", "120", "pgdrill-abc-rb")
    assert translate(("exec", "-i", "agentic-postgres", "pg_restore", "-d", "x"), NAMES, "/root").argv == (
        "exec", "-e", "PGPORT=15432", "-i", "pgdrill-abc-rb", "pg_restore", "-d", "x")
    assert translate(("volume", "rm", "story-portal-app_postgres_data"), NAMES, "/").argv == (
        "volume", "rm", "pgdrill-abc-rb-data")
    run = translate(("run", "--rm", "-v", "story-portal-app_postgres_data:/data", "pgvector/pgvector:pg16", "ls"),
                    NAMES, "/").argv
    assert run == ("run", "--network", "none", "--label", "pgdrill.run=abc", "--rm", "-v", "pgdrill-abc-rb-data:/data",
                   "pgdrill/pgvector:16-offline", "ls")


def test_copies_and_follows_go_through_the_shell():
    out = translate(("cp", "agentic-postgres:/tmp/backup_base", "./backups/base_1/"), NAMES, "/root")
    assert (out.kind, out.container, out.source, out.dest) == ("copy_out", "pgdrill-abc-rb", "/tmp/backup_base",
                                                               "/root/backups/base_1/")
    into = translate(("cp", "base.tar.gz", "agentic-postgres:/tmp/"), NAMES, "/root/backups")
    assert (into.kind, into.source, into.dest) == ("copy_in", "/root/backups/base.tar.gz", "/tmp/")
    assert translate(("logs", "-f", "agentic-postgres"), NAMES, "/").kind == "follow"


def test_ps_and_inspect_see_only_the_runs_containers_under_the_runbooks_names():
    listing = translate(("ps", "-a", "--filter", "name=agentic", "--format", "{{.Names}}"), NAMES, "/")
    assert listing.renamed and listing.argv == ("ps", "-a", "--format", "{{.Names}}", "--filter",
                                                "name=^pgdrill-abc-rb$")
    unknown = translate(("ps", "-f", "name=agentic-postgres-2"), NAMES, "/").argv  # a name not of this run: none
    assert unknown == ("ps", "--filter", "name=^pgdrill-sandbox-none$")
    shouted = translate(("ps", "-f", " NAME=.", "-f", "Status=running"), NAMES, "/").argv  # keys as docker reads them
    assert shouted == ("ps", "-f", "status=running", "--filter", "name=^pgdrill-sandbox-none$")
    everything = translate(("ps",), NAMES, "/").argv
    assert everything == ("ps", "--filter", "name=^pgdrill-abc-rb$", "--filter", "name=^pgdrill-abc-svc-l01$")
    inspect = translate(("inspect", "-f", "{{.State.Status}}", "agentic-postgres"), NAMES, "/")
    assert inspect.renamed and inspect.argv == ("inspect", "-f", "{{.State.Status}}", "pgdrill-abc-rb")
    assert as_written(b'[{"Name": "/pgdrill-abc-rb"}]', NAMES) == b'[{"Name": "/agentic-postgres"}]'


@pytest.mark.parametrize("argv, why", [
    (("stop", "agentic-postgres-2"), "refusing container 'agentic-postgres-2': no container of that name belongs"),
    (("exec", "someone-elses-db", "psql"), "refusing container 'someone-elses-db'"),
    (("volume", "rm", "prod_data"), "refusing volume 'prod_data'"),
    (("-H", "tcp://elsewhere:2375", "ps"), "global docker options"),
    (("images",), "`docker images` is not a call the runbook sandbox runs"),
    (("ps", "--host", "x"), "refusing `docker ps --host`"),
    (("ps", "-f", "label=pgdrill.run"), "refusing `docker ps --filter label=pgdrill.run`"),
    (("inspect", "agentic-postgres-2"), "refusing container 'agentic-postgres-2'"),
    (("run", "-v", "/:/host", "alpine", "ls"), "a bind mount of a host path"),
    (("run", "--privileged", "alpine"), "refusing `docker run --privileged`"),
    (("run", "--network", "host", "alpine"), "helpers run on no network"),
    (("cp", "a", "b"), "neither side names one"),
])
def test_everything_else_is_refused_with_its_reason(argv, why):
    with pytest.raises(Refused, match=why.replace("(", r"\(").replace(")", r"\)")):
        translate(argv, NAMES, "/root")


def test_example_values_are_what_the_drill_made():
    made = {"backup_*.dump": "backup_20261206_101500.dump", "./backups/base_*/base.tar.gz":
            "./backups/base_20261206_101501/base.tar.gz"}
    command, done = substitute(
        "docker cp ./backups/base_20260118_120000/base.tar.gz x:/tmp/\npg_restore < backup_20260118_120000.dump\n"
        "recovery_target_time = '2026-01-18 11:45:00'", 10, made.get, "2026-12-06 10:16:00.000000+00")
    assert command.splitlines() == ["docker cp ./backups/base_20261206_101501/base.tar.gz x:/tmp/",
                                    "pg_restore < backup_20261206_101500.dump",
                                    "recovery_target_time = '2026-12-06 10:16:00.000000+00'"]
    assert [(s.line, s.written) for s in done] == [(10, "./backups/base_20260118_120000/base.tar.gz"),
                                                   (11, "backup_20260118_120000.dump"), (12, "2026-01-18 11:45:00")]


def test_a_name_nothing_produced_fails_with_that_sentence():
    with pytest.raises(NothingMatches, match=r"line 7: 'wal_archive_20260118' stands for a backup .* nothing here "
                                             r"matches 'wal_archive_\*'"):
        substitute("docker cp wal_archive_20260118 x:/a", 7, lambda pattern: None, None)
    assert substitute("pg_dump > backup_$(date +%Y%m%d).dump", 1, lambda p: None, None)[1] == []  # a name it makes


def test_what_a_runbook_creates_is_the_runs_and_named_as_the_runbook_names_it():
    names = Names(**{**NAMES.__dict__, "containers": dict(NAMES.containers)})
    created = translate(("create", "--name", "restore-helper", "-v", "story-portal-app_postgres_data:/d", "img"),
                        names, "/").argv
    assert created == ("create", "--network", "none", "--name", "pgdrill-abc-rb-restore-helper", "--label",
                       "pgdrill.run=abc", "-v", "pgdrill-abc-rb-data:/d", "pgdrill/pgvector:16-offline")
    assert names.containers["restore-helper"] == "pgdrill-abc-rb-restore-helper"
    assert translate(("rm", "restore-helper"), names, "/").argv == ("rm", "pgdrill-abc-rb-restore-helper")
    assert translate(("volume", "create", "story-portal-app_postgres_data"), names, "/").argv == (
        "volume", "create", "--label", "pgdrill.run=abc", "pgdrill-abc-rb-data")
    with pytest.raises(Refused, match="without --name leaves a container no step can name"):
        translate(("create", "img"), names, "/")


def test_compose_acts_on_the_runs_project_for_the_runbooks_file_only():
    assert translate_compose(("-f", "platform/docker-compose.app.yml", "up", "-d", "postgres"), NAMES) == (
        "up", "-d", "postgres")
    assert translate_compose(("-f", "platform/docker-compose.app.yml", "restart"), NAMES) == ("restart",)
    for argv, why in [(("-f", "/etc/other.yml", "up"), "refusing compose file /etc/other.yml"),
                      (("-f", "platform/docker-compose.app.yml", "up", "-d", "redis"), "refusing compose service"),
                      (("-f", "platform/docker-compose.app.yml", "down", "-v"), "down -v"),
                      (("-f", "platform/docker-compose.app.yml", "exec", "postgres", "sh"), "is not run in the"),
                      (("-H", "x", "up"), "refusing `docker-compose -H`")]:
        with pytest.raises(Refused, match=why):
            translate_compose(argv, NAMES)


def test_what_a_runbook_leaves_to_its_reader_comes_from_runbook_set():
    command, done = substitute("cd <PROJECT_DIR> && docker-compose -f {{ COMPOSE }} up -d postgres", 30,
                               lambda pattern: None, None, {"PROJECT_DIR": "/srv/app", "COMPOSE": "dc.yml"})
    assert command == "cd /srv/app && docker-compose -f dc.yml up -d postgres"
    assert [(s.line, s.written, s.used) for s in done] == [(30, "<PROJECT_DIR>", "/srv/app"),
                                                          (30, "{{ COMPOSE }}", "dc.yml")]
    with pytest.raises(NothingMatches, match=r"line 4: <BACKUP_HOST> is left to the reader: give it with "
                                             r"--runbook-set BACKUP_HOST=VALUE"):
        substitute("scp x <BACKUP_HOST>:/b", 4, lambda pattern: None, None, {})


def test_runbook_set_is_read_as_name_value_pairs():
    from pgdrill.fixtures.config import ConfigError, resolve
    config = resolve({"runbook_set": "PROJECT_DIR=/srv/app; COMPOSE=a=b.yml"}, {}, {})
    assert config.runbook_set == {"PROJECT_DIR": "/srv/app", "COMPOSE": "a=b.yml"}
    with pytest.raises(ConfigError, match=r"--runbook-set takes NAME=VALUE pairs separated by ';', not '2X=1'"):
        resolve({"runbook_set": "2X=1"}, {}, {})
