"""Options resolve once, in a fixed precedence, and bad values stop the run with one clear sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgdrill.fixtures.config import ConfigError, resolve

ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    config = resolve({}, {}, {})
    assert (config.pg_backend, config.pg_version, config.seed_scale, config.keep_failed) == ("local", "16", 0.1, False)


@pytest.mark.parametrize("raw, parsed", [("auto", "auto"), ("server", "server"), ("2GB", "2GB"), ("1024kB", "1024kB")])
def test_restore_memory_takes_postgresql_units(raw, parsed):
    assert resolve({"restore_memory": raw}, {}, {}).restore_memory == parsed


def test_sizes_take_units_with_or_without_b():
    assert resolve({"production_size": "500M"}, {}, {}).production_size == 500e6
    assert resolve({"production_size": "2GB"}, {}, {}).production_size == 2e9


def test_flag_beats_environment_beats_ini():
    assert resolve({"seed_scale": "3"}, {"seed_scale": "1"}, {"PGDRILL_SEED_SCALE": "2"}).seed_scale == 3
    assert resolve({}, {"seed_scale": "1"}, {"PGDRILL_SEED_SCALE": "2"}).seed_scale == 2
    assert resolve({}, {"seed_scale": "1"}, {}).seed_scale == 1


@pytest.mark.parametrize("cli, message", [
    ({"pg_backend": "kubernetes"}, "--pg-backend must be one of local, docker, not 'kubernetes'."),
    ({"seed_scale": "big"}, "--seed-scale must be a positive number, not 'big'."),
    ({"seed_scale": "-1"}, "--seed-scale must be a positive number, not '-1'."),
    ({"pg_version": "12"}, "--pg-version must be one of 16, 18, not '12'."),
    ({"pg_bindir": "/usr"}, "--pg-bindir /usr is not a PostgreSQL bin directory: no executable initdb, pg_ctl, postgres there."),
    ({"dr_targets": "/nonexistent.toml"}, "--dr-targets /nonexistent.toml: no such file."),
    ({"restore_memory": "512M"}, "--restore-memory must be auto, server, or a PostgreSQL memory size of at least 1MB "
                                 "(e.g. 512MB, 2GB: kB/MB/GB/TB as in postgresql.conf), not '512M'."),
    ({"restore_memory": "100kB"}, "--restore-memory must be auto, server, or a PostgreSQL memory size of at least "
                                  "1MB (e.g. 512MB, 2GB: kB/MB/GB/TB as in postgresql.conf), not '100kB'."),
])
def test_bad_values_are_one_sentence(cli, message):
    with pytest.raises(ConfigError) as raised:
        resolve(cli, {}, {})
    assert str(raised.value) == message


@pytest.mark.parametrize("args, message", [
    (["--pg-backend", "nope"], "pgdrill: --pg-backend must be one of local, docker, not 'nope'."),
    (["--seed-scale", "x"], "pgdrill: --seed-scale must be a positive number, not 'x'."),
    (["--pg-bindir", "/tmp"], "pgdrill: --pg-bindir /tmp is not a PostgreSQL bin directory"),
])
def test_bad_option_stops_pytest_without_traceback(args, message):
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "drills", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_environment_variable_is_read_by_pytest():
    env = {"PGDRILL_PG_BACKEND": "nope", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "drills"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    assert "pgdrill: --pg-backend must be one of local, docker, not 'nope'." in result.stderr


@pytest.mark.parametrize("raw, normalised", [("2026-01-18 11:45:00+00", "2026-01-18 11:45:00+00:00"),
                                             ("2026-01-18T11:45:00.5Z", "2026-01-18 11:45:00.5+00:00"),
                                             ("2026-01-18 11:45:00-0530", "2026-01-18 11:45:00-05:30")])
def test_pitr_target_keeps_its_offset(raw, normalised):
    assert resolve({"pitr_target": raw}, {}, {}).pitr_target == normalised


def test_a_bare_pitr_target_is_refused_with_why():
    with pytest.raises(ConfigError, match="a bare time is read in the restored server's TimeZone"):
        resolve({"pitr_target": "2026-01-18 11:45:00"}, {}, {})


def test_a_cached_binary_tree_someone_else_may_write_is_refused(tmp_path):
    """Root runs the cached PostgreSQL binaries: a cache another user owns or may write to is refused."""
    import os

    from pgdrill.fixtures.installation import check_root_owned
    if os.geteuid() != 0:
        pytest.skip("not run: the cache is only used (and checked) when running as root")
    tree = tmp_path / "cache" / "pginstall-x"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "postgres").write_text("")
    for path in (tmp_path / "cache", tree, tree / "bin", tree / "bin" / "postgres"):
        path.chmod(0o755)
    check_root_owned(tree)
    (tree / "bin" / "postgres").chmod(0o777)
    with pytest.raises(ConfigError, match="is not safe for root to run"):
        check_root_owned(tree)
    (tree / "bin" / "postgres").chmod(0o755)
    os.chown(tree / "bin", 12345, 12345)
    with pytest.raises(ConfigError, match="owned by uid 12345"):
        check_root_owned(tree)


@pytest.mark.parametrize("cli, message", [
    ({"restore_jobs": "²"}, "--restore-jobs must be a whole number of at least 1, not '²'."),
    ({"seed_scale": "nan"}, "--seed-scale must be a positive number, not 'nan'."),
    ({"seed_scale": "inf"}, "--seed-scale must be a positive number, not 'inf'."),
    ({"script_timeout": "nan"}, "--script-timeout must be a number of seconds, not 'nan'."),
    ({"archive_timeout": "0.5"}, "--archive-timeout is whole seconds in PostgreSQL (a fraction would be cut to 0), "
                                 "not '0.5'."),
    ({"docker_host": "bogus://x"}, "--docker-host 'bogus://x' is not unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST."),
    ({"pitr_target": "2026-02-30 11:45:00+00"}, "--pitr-target '2026-02-30 11:45:00+00' is no moment that exists "
                                                "(day is out of range for month)."),
    ({"pitr_target": "2026-01-18 25:45:00+00"}, "--pitr-target '2026-01-18 25:45:00+00' is no moment that exists "
                                                "(hour must be in 0..23)."),
])
def test_more_bad_values_are_one_sentence(cli, message):
    with pytest.raises(ConfigError) as raised:
        resolve(cli, {}, {})
    assert str(raised.value) == message


def test_bindir_without_postgres_and_report_dir_that_is_a_file(tmp_path):
    for tool in ("initdb", "pg_ctl"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    with pytest.raises(ConfigError, match="no executable postgres there"):
        resolve({"pg_bindir": str(tmp_path)}, {}, {})
    with pytest.raises(ConfigError, match="is a file, not a directory the reports could be written into"):
        resolve({"dr_report_dir": str(tmp_path / "initdb")}, {}, {})


def test_targets_file_that_is_not_utf8(tmp_path):
    from pgdrill.scenarios.verdicts.targets import load_targets
    bad = tmp_path / "targets.toml"
    bad.write_bytes(b"[pitr]\nrto = \"30m\" # \xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text, as TOML must be"):
        load_targets(bad)


def test_the_password_is_never_a_flag_nor_an_ini_key(tmp_path):
    assert resolve({"pg_password": "from-argv"}, {"pg_password": "from-ini"}, {}).pg_password == ""
    assert resolve({}, {}, {"PGDRILL_PG_PASSWORD": "from-env"}).pg_password == "from-env"
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert resolve({"pg_password_file": str(secret)}, {}, {}).pg_password == "from-file"
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "drills", "--pg-password", "x"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4 and "unrecognized arguments: --pg-password" in result.stderr


def test_a_compose_file_and_a_backup_path_are_checked_before_anything_runs(tmp_path):
    broken, not_compose, dump = tmp_path / "broken.yml", tmp_path / "list.yml", tmp_path / "nightly.dump"
    broken.write_text("services: [\n")
    not_compose.write_text("- a\n- b\n")
    dump.write_bytes(b"PGDMP")
    with pytest.raises(ConfigError, match="--compose-file .*broken.yml: not a readable compose file"):
        resolve({"compose_file": str(broken)}, {}, {})
    with pytest.raises(ConfigError, match=r"--compose-file .*list.yml: not a compose file \(no `services:` mapping\)"):
        resolve({"compose_file": str(not_compose)}, {}, {})
    with pytest.raises(ConfigError, match="--backup-dir /nonexistent: no such file or directory."):
        resolve({"backup_dir": "/nonexistent"}, {}, {})
    assert resolve({"backup_dir": str(dump)}, {}, {}).backup_dir == dump  # one backup, given as itself


def test_a_walg_repository_is_not_run_with_why(tmp_path):
    from pgdrill.scenarios.backups import repository
    (tmp_path / "basebackups_005").mkdir()
    (tmp_path / "wal_005").mkdir()
    assert repository.is_walg_repository(tmp_path) and not repository.is_walg_repository(tmp_path / "wal_005")
    assert "is a WAL-G repository, restored through wal-g backup-fetch / wal-fetch" in repository.walg_not_run(tmp_path)
