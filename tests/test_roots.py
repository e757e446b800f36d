"""One machine, several users: each keeps its own state root, and a root another user owns is refused."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from pgdrill.fixtures.config import ConfigError
from pgdrill.fixtures.roots import own_directory, state_root
from pgdrill.fixtures.runstate import RunDir


def test_root_keeps_the_shared_tree_and_every_other_user_has_one_of_their_own():
    assert state_root(0) == Path("/var/tmp/pgdrill")
    assert state_root(pwd.getpwnam("nobody").pw_uid) == Path("/var/tmp/pgdrill-nobody")
    assert state_root(54321) == Path("/var/tmp/pgdrill-54321")  # a uid without a name


def test_directories_are_made_down_from_the_top_readable_by_the_server_user(tmp_path):
    made = own_directory(tmp_path / "root" / "runs" / "x", top=tmp_path / "root")
    assert made.is_dir()
    assert all((p.stat().st_mode & 0o777) == 0o755 for p in (tmp_path / "root", tmp_path / "root" / "runs", made))


@pytest.mark.skipif(os.geteuid() != 0, reason="not run: making a directory another user owns needs root")
def test_a_tree_another_user_owns_is_refused_with_what_to_do(tmp_path):
    theirs = tmp_path / "pgdrill"
    theirs.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(theirs, nobody, nobody)
    with pytest.raises(ConfigError, match=rf"{theirs} belongs to uid {nobody}, not to you \(uid 0\).*Remove it"):
        RunDir.create(theirs / "runs")
    assert oct(theirs.stat().st_mode & 0o777) == "0o700"  # not chmod'ed: nothing of theirs was touched
    assert not (theirs / "runs").exists()


def test_a_symlink_planted_as_the_root_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "victim"
    target.mkdir(mode=0o700)
    (tmp_path / "pgdrill").symlink_to(target)
    with pytest.raises(ConfigError, match=r"is a symlink \(to .*victim\), not a directory of yours"):
        RunDir.create(tmp_path / "pgdrill" / "runs")
    assert oct(target.stat().st_mode & 0o777) == "0o700" and not (target / "runs").exists()
