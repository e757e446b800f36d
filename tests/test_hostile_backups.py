"""A production backup is hostile input: a corpus of backups that carry a hazard, made from real servers here,
each refused or neutralised by the real-backup restore test, with nothing outside the run changed.

- psql scripts with meta-commands (a plain dump, a file with pg_dumpall's header): DUMP_SHELL_ESCAPE, never run;
- a meta-command hidden where the scan reads COPY data: psql's restricted mode refuses it (defence in depth);
- tars holding devices, FIFOs, setuid files, names or links out of the tree, or more than the disk has free, and
  compressed files that expand past their bound: BACKUP_UNSAFE_MEMBER / BACKUP_EXPANSION_LIMIT, nothing extracted;
- a file-level base backup carrying production's commands (archive_cleanup_command aimed at the source archive,
  recovery_end_command, archive_library), standby.signal, an enabled subscription and a postmaster.pid naming a
  live process: the copy recovers with all of them off, and the source archive, the process and the
  publisher's port are untouched.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import uuid
from pathlib import Path

import psutil
import pytest

from pgdrill.fixtures.contract import tar_flags
from pgdrill.fixtures.runstate import our_postmaster
from pgdrill.fixtures.seed import DATABASE
from pgdrill.scenarios import real_backups
from pgdrill.scenarios.backups import archive, dumps, layouts, psql_script, unpack
from pgdrill.scenarios.steps import archiving
from pgdrill.scenarios.verdicts.result import DrillFailure

pytestmark = pytest.mark.slow
BACKUP = Path(__file__).resolve().parent.parent / "scripts" / "backup.sh"


def codes(result) -> list[str]:
    return [f.code for f in result.findings if f.severity == "error"]


def proof_path() -> Path:
    """A file a hostile command would create: it must never exist."""
    return Path("/tmp") / f"pgdrill-proof-{uuid.uuid4().hex[:8]}"


def physical_set(source, workdir: Path) -> tuple[Path, Path]:
    """(the backup directory, the set in it) scripts/backup.sh --physical-only wrote from source."""
    backups = workdir / "backups"
    backups.mkdir()
    env = {**source.script_env(), "PGDATABASE": DATABASE, "PGDRILL_BACKUP_DIR": str(backups)}
    out = subprocess.run([str(BACKUP), "--physical-only"], env=env, capture_output=True, text=True, check=True)
    return backups, Path(out.stdout.strip())


def archive_copy(source, dest: Path) -> Path:
    """The source's WAL archive, up to a freshly switched segment, copied through the cluster contract."""
    archiving.switch_and_wait(source)
    dest.mkdir()
    for name in source.archive_listing():
        (dest / name).write_bytes(source.read_archive_file(name))
    return dest


def found(path: Path) -> layouts.Found:
    fmt = layouts.classify_file(path)
    assert fmt, f"{path} is not recognised as a dump"
    return layouts.Found("logical", fmt, path, path.stat().st_mtime)


# ----- the scan alone (no server) ------------------------------------------------------------------------------

@pytest.mark.parametrize("script, hits", [
    ("-- PostgreSQL database dump\n\\! id > /tmp/p\n", 1),
    ("SELECT 1; \\! id\n", 1),
    ("SELECT 'a\\! b', E'it\\'s \\! x', \"we\\!ird\";\n", 0),
    ("COPY t (a) FROM stdin;\n1\t\\N\nx\\!y\n\\.\n\\copy t to program 'id'\n", 1),
    ("CREATE FUNCTION f() RETURNS int AS $body$ x; \\! $body$ LANGUAGE sql;\n\\o |id\n", 1),
    ("\\restrict abcDEF123\nSELECT 1;\n\\unrestrict abcDEF123\n\\connect agentic\n", 0),
    ("/* \\! /* nested */ \\! */ SELECT 1;\n", 0),
    ("SELECT a$b$ FROM t; \\i /etc/passwd\n", 1),
    ("\\set x `id`\n", 1),
])
def test_scan_finds_what_psql_would_run(script, hits):
    assert len(psql_script.escapes(script)) == hits, psql_script.meta_commands(script)


def test_globals_are_what_pg_dumpall_writes():
    body = "SET default_transaction_read_only = off;\nCREATE ROLE app;\nALTER ROLE app WITH LOGIN;\n"
    whole = f"{psql_script.GLOBALS_HEADER}\n\\restrict K1\n{body}\\unrestrict K1\n{psql_script.GLOBALS_TRAILER}\n"
    assert psql_script.is_globals_script(whole)
    assert not psql_script.is_globals_script(psql_script.GLOBALS_HEADER + "\n")  # a header is not a globals file
    assert not psql_script.is_globals_script(whole.replace(body, body + "DROP DATABASE x;\n"))


# ----- logical: psql scripts that would run commands ----------------------------------------------------------

@pytest.fixture
def dump_set(make_cluster, drill_context) -> Path:
    """A real pg_dump -Fc and pg_dumpall --globals-only of a seeded server, in a directory of their own."""
    source = make_cluster("hostile-source")
    where = drill_context.workdir / "set"
    where.mkdir()
    source.tool("pg_dump", "-Fc", "-d", DATABASE, stdout_path=where / f"{DATABASE}.dump")
    source.tool("pg_dumpall", "--globals-only", stdout_path=where / "globals.sql")
    return where


def test_plain_dump_with_a_shell_escape_is_not_run(drill_context):
    proof = proof_path()
    hostile = drill_context.workdir / "x.sql"
    hostile.write_text(f"-- PostgreSQL database dump\n\\! id > {proof}\n")
    result = real_backups.restore_dump(drill_context, found(hostile))
    assert codes(result) == ["DUMP_SHELL_ESCAPE"], result.explain()
    assert "line 2" in result.explain() and not proof.exists()


def test_globals_header_file_with_a_shell_escape_is_not_run(dump_set, drill_context):
    proof = proof_path()
    (dump_set / "globals.sql").rename(dump_set / "roles.keep")  # the real globals file, under another name
    (dump_set / "notes.txt").write_text(f"{psql_script.GLOBALS_HEADER}\n\\! id > {proof}\n")
    result = real_backups.restore_dump(drill_context, found(dump_set / f"{DATABASE}.dump"))
    assert codes(result) == ["DUMP_SHELL_ESCAPE"], result.explain()
    assert "notes.txt" in result.explain() and not proof.exists()


def test_a_header_alone_is_not_taken_for_globals(dump_set):
    (dump_set / "globals.sql").rename(dump_set / "roles.keep")
    (dump_set / "notes.txt").write_text(f"{psql_script.GLOBALS_HEADER}\nDROP DATABASE postgres;\n")
    assert dumps.globals_beside(dump_set / f"{DATABASE}.dump") == dump_set / "roles.keep"
    (dump_set / "roles.keep").unlink()
    assert dumps.globals_beside(dump_set / f"{DATABASE}.dump") is None


@pytest.mark.both_backends
def test_meta_command_the_scan_takes_for_copy_data_is_refused_by_psql(dump_set, make_cluster, drill_context):
    """COPY into a table that does not exist fails, and psql then reads its 'data' as commands: the scan counts them
    as data, psql's restricted mode refuses them."""
    source = make_cluster("plain-source")
    plain = drill_context.workdir / "plain" / "plain.sql"
    plain.parent.mkdir()
    source.tool("pg_dump", "-Fp", "-d", DATABASE, stdout_path=plain)
    proof = proof_path()
    text = plain.read_text()
    trailer = text.rindex("-- PostgreSQL database dump complete")
    plain.write_text(text[:trailer] + f"COPY public.nowhere (a) FROM stdin;\n\\! id > {proof}\n\\.\n\n"
                     + text[trailer:])
    assert not psql_script.escapes(plain.read_text())  # the scan reads it as COPY data
    result = real_backups.restore_dump(drill_context, found(plain))
    assert "DUMP_SHELL_ESCAPE" in codes(result), result.explain()
    assert "refused" in result.explain() and not proof.exists()


# ----- physical: a file-level backup that carries production's commands ---------------------------------------

class Listener:
    """A TCP port that counts connections: the production publisher a restored subscription would reach."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0

    def start(self) -> None:
        self.sock.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    port = Listener()
    yield port
    port.close()


@pytest.fixture
def production_postmaster(tmp_path):
    """A live process standing in for production's postmaster: its working directory is production's data dir."""
    data = tmp_path / "production-data"
    data.mkdir()
    process = subprocess.Popen(["sleep", "600"], cwd=data)
    yield process, data
    process.kill()
    process.wait()


def file_level_copy(set_dir: Path, dest: Path) -> Path:
    """The backup set's base tars laid out as a plain data directory (how a file-level backup or Barman keeps it)."""
    base = next(set_dir.rglob("base.tar.gz"))
    dest.mkdir(parents=True)
    with tarfile.open(base) as tar:
        tar.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(dest)
    (dest / "pg_wal").mkdir(exist_ok=True)
    with tarfile.open(base.parent / "pg_wal.tar.gz") as tar:
        tar.extractall(dest / "pg_wal", filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(dest / "pg_wal")
    return dest


@pytest.mark.both_backends
def test_file_level_backup_carrying_production_commands(make_cluster, drill_context, listener, production_postmaster):
    source = make_cluster("hazard-source")
    source.query(f"CREATE SUBSCRIPTION to_production CONNECTION 'host=127.0.0.1 port={listener.port} "
                 f"dbname=x connect_timeout=2' PUBLICATION p WITH (connect = false)", dbname=DATABASE)
    source.query("ALTER SUBSCRIPTION to_production ENABLE", dbname=DATABASE)  # its worker retries, refused
    backups, set_dir = physical_set(source, drill_context.workdir)
    archive = archive_copy(source, drill_context.workdir / "archive")
    source.crash()  # production's subscriber is gone; from here on the listener hears only the restored copy
    copy = file_level_copy(set_dir, drill_context.workdir / "file-level" / "base")
    proof = proof_path()
    with open(copy / "postgresql.auto.conf", "a") as conf:
        conf.write(f"archive_cleanup_command = 'rm -f {archive}/0*'\n"
                   f"recovery_end_command = 'touch {proof}'\n"
                   "archive_library = 'basic_archive'\n")
    (copy / "standby.signal").touch()
    process, production_data = production_postmaster
    started = int(psutil.Process(process.pid).create_time())
    (copy / "postmaster.pid").write_text(f"{process.pid}\n{production_data}\n{started}\n5432\n/tmp\n*\n")
    before = real_backups.fingerprint(archive)
    listener.start()

    result = real_backups.restore_base(drill_context, layouts.find_backups(copy.parent)["physical"], archive, None)

    assert result.status == "passed", result.explain()
    effect = result.facts["commands_in_effect"]
    assert effect["archive_cleanup_command"] == effect["archive_library"] == effect["recovery_end_command"] == ""
    assert str(drill_context.workdir) not in effect["archive_command"]
    assert result.facts["subscriptions_disabled"] == [f"{DATABASE}.to_production"]
    assert real_backups.fingerprint(archive) == before, "the source archive changed"
    assert not proof.exists(), "recovery_end_command ran"
    assert listener.connections == 0, "the restored subscription reached the publisher"
    assert process.poll() is None, "the live process the backup's postmaster.pid names was killed"


def test_a_pidfile_from_a_backup_never_names_our_postmaster(production_postmaster, tmp_path):
    """Ownership by where the process works, not by what the file says: production's pid, directory and start
    time copied into one of our directories do not make production's postmaster ours."""
    process, production_data = production_postmaster
    ours = tmp_path / "restored-data"
    ours.mkdir()
    started = int(psutil.Process(process.pid).create_time())
    (ours / "postmaster.pid").write_text(f"{process.pid}\n{production_data}\n{started}\n")
    assert our_postmaster(ours / "postmaster.pid") is None
    shutil.copy(ours / "postmaster.pid", production_data / "postmaster.pid")
    assert our_postmaster(production_data / "postmaster.pid") is not None  # in its own directory it is the one


# ----- archives that would escape or fill the machine ---------------------------------------------------------

def tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("PG_VERSION")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"16\n"))
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o600, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


@pytest.mark.parametrize("hazard, words", [
    (member("dev/sda", tarfile.BLKTYPE), "a block device"),
    (member("pipe", tarfile.FIFOTYPE), "a FIFO"),
    (member("global/pg_control", mode=0o4755), "mode 4755 (setuid, setgid or sticky)"),
    (member("../outside"), "a name outside the tree"),
    (member("/etc/cron.d/x"), "a name outside the tree"),
    (member("pg_tblspc/16385", tarfile.SYMTYPE, link="/var/lib/production/ts"), "a symlink to '/var/lib/production/ts'"),
    (member("base/x", tarfile.SYMTYPE, link="../../../etc/passwd"), "outside the tree"),
    (member("base/y", tarfile.LNKTYPE, link="/etc/shadow"), "a hard link to '/etc/shadow'"),
])
def test_unsafe_tar_members_are_refused_before_extraction(tmp_path, hazard, words):
    tar_with(tmp_path / "base.tar.gz", hazard)
    with pytest.raises(DrillFailure) as raised:
        unpack.check_base_backup(tmp_path, free_bytes=1 << 40)
    assert raised.value.code == "BACKUP_UNSAFE_MEMBER" and words in str(raised.value)


def test_a_member_hidden_after_the_end_of_archive_marker_is_refused(tmp_path):
    """tarfile stops at the first end-of-archive marker; the restore's tar reads on (--ignore-zeros, so that a
    corrupt stream is read to its checksum) and would extract what follows: the check must read as far."""
    first, hidden = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=first, mode="w") as tar:
        ok = tarfile.TarInfo("PG_VERSION")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"16\n"))
    with tarfile.open(fileobj=hidden, mode="w") as tar:
        tar.addfile(member("base/hidden"))
    (tmp_path / "base.tar.gz").write_bytes(gzip.compress(first.getvalue() + hidden.getvalue()))
    with pytest.raises(DrillFailure) as raised:
        unpack.check_base_backup(tmp_path, free_bytes=1 << 40)
    assert raised.value.code == "BASEBACKUP_CORRUPT" and "after its end-of-archive marker" in str(raised.value)
    out = tmp_path / "out"  # what the restore's own extraction would have made of it
    out.mkdir()
    subprocess.run(["tar", *tar_flags("base.tar.gz").split(), str(tmp_path / "base.tar.gz"), "-C", str(out)],
                   check=True)
    assert (out / "base" / "hidden").exists()


def test_in_tree_links_and_plain_files_pass(tmp_path):
    tar_with(tmp_path / "base.tar.gz", member("base/link", tarfile.SYMTYPE, link="../global/pg_control"))
    assert unpack.check_base_backup(tmp_path, free_bytes=1 << 40) == 3


def test_a_backup_larger_than_the_free_space_is_not_extracted(tmp_path):
    tar_with(tmp_path / "base.tar.gz", member("base/1/big"), data=b"\0" * 4096)
    with pytest.raises(DrillFailure) as raised:
        unpack.check_base_backup(tmp_path, free_bytes=1000)
    assert raised.value.code == "BACKUP_EXPANSION_LIMIT"


def test_a_gzip_bomb_dump_stops_at_its_bound(drill_context):
    """64 KiB of gzip that would become 64 MiB: stopped at --max-expansion times its size, nothing restored."""
    bomb = drill_context.workdir / "bomb.sql.gz"
    with gzip.open(bomb, "wb") as out:
        out.write(b"-- PostgreSQL database dump\n")
        for _ in range(64):
            out.write(b"\0" * (1 << 20))
    assert bomb.stat().st_size < 128 * 1024
    result = real_backups.restore_dump(drill_context, found(bomb))
    assert codes(result) == ["BACKUP_EXPANSION_LIMIT"], result.explain()
    assert not (drill_context.workdir / "restore-input.sql").exists() or \
        (drill_context.workdir / "restore-input.sql").stat().st_size <= bomb.stat().st_size * 200


def test_an_archived_segment_is_capped_at_its_size(tmp_path):
    wal_archive, work = tmp_path / "archive", tmp_path / "work"
    wal_archive.mkdir()
    work.mkdir()
    with gzip.open(wal_archive / "000000010000000000000005.gz", "wb") as out:
        out.write(b"\0" * (32 << 20))  # twice a segment
    with pytest.raises(DrillFailure) as raised:
        archive.archive_as_read(wal_archive, work)
    assert raised.value.code == "BACKUP_EXPANSION_LIMIT" and "16,777,216 bytes" in str(raised.value)


@pytest.mark.both_backends
def test_a_real_base_backup_with_a_fifo_added_is_not_extracted(make_cluster, drill_context):
    source = make_cluster("fifo-source")
    backups, set_dir = physical_set(source, drill_context.workdir)
    base = next(set_dir.rglob("base.tar.gz"))
    with tarfile.open(base) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    with tarfile.open(base, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        tar.addfile(member("pg_notify/listener", tarfile.FIFOTYPE))
    result = real_backups.restore_base(drill_context, layouts.find_backups(backups)["physical"], None, None)
    assert codes(result) == ["BACKUP_UNSAFE_MEMBER"], result.explain()
    assert "pg_notify/listener" in result.explain()


@pytest.mark.both_backends
def test_a_tablespace_is_restored_inside_the_run(make_cluster, drill_context):
    """A -Ft backup's <oid>.tar.gz lands inside the copy's data directory and its tablespace_map is not followed:
    replay writes nothing where production keeps that tablespace."""
    source = make_cluster("tablespace-source")
    location = f"/tmp/pgdrill-ts-{uuid.uuid4().hex[:8]}"  # production's tablespace (on the source's machine)
    try:
        source.query(f"COPY (SELECT 1) TO PROGRAM 'mkdir -m 700 {location} && cat > /dev/null'")
        source.query(f"CREATE TABLESPACE production_ts LOCATION '{location}'")
        source.query("CREATE TABLE in_tablespace TABLESPACE production_ts AS SELECT g FROM generate_series(1, 5000) g",
                     dbname=DATABASE)
        backups, set_dir = physical_set(source, drill_context.workdir)
        assert any(layouts_name.name.split(".")[0].isdigit() for layouts_name in set_dir.rglob("*.tar.gz"))
        archive = archive_copy(source, drill_context.workdir / "archive")
        source.stop()
        before = real_backups.fingerprint(Path(location)) if Path(location).is_dir() else None

        result = real_backups.restore_base(drill_context, layouts.find_backups(backups)["physical"], archive, None)

        assert result.status == "passed", result.explain()
        assert result.facts["tablespaces"]["production_ts"].startswith("../pgdrill_tablespaces/"), result.facts
        assert result.facts["tables"]["public.in_tablespace"] == 5000
        if before is not None:  # local: production's tablespace directory is on this machine
            assert real_backups.fingerprint(Path(location)) == before, "replay wrote into production's tablespace"
    finally:
        shutil.rmtree(location, ignore_errors=True)


def test_restored_sql_runs_programs_only_as_the_copys_own_account(make_cluster, drill_context):
    """Past psql, a dump's SQL runs as superuser on the scratch server, and `COPY ... TO PROGRAM` runs a program as
    the server's OS account: that account is the run's copy account, which cannot write into another cluster's
    data directory (owned by the server user) nor read this run's other copies."""
    if drill_context.backend != "local" or os.geteuid() != 0:
        pytest.skip("not run: the local backend as root (docker runs each copy in its own container)")
    source = make_cluster("program-source")
    bystander = make_cluster("bystander", seeded=False)
    plain = drill_context.workdir / "plain" / "plain.sql"
    plain.parent.mkdir()
    source.tool("pg_dump", "-Fp", "-d", DATABASE, stdout_path=plain)
    proof = proof_path()
    target = bystander.data_dir / "PWNED"
    text = plain.read_text()
    trailer = text.rindex("-- PostgreSQL database dump complete")
    program = f"id -un > {proof}; touch {target} 2>/dev/null; echo $? >> {proof}; cat > /dev/null"
    plain.write_text(text[:trailer] + f"COPY (SELECT 1) TO PROGRAM '{program}';\n\n" + text[trailer:])
    try:
        result = real_backups.restore_dump(drill_context, found(plain))
        assert proof.exists(), result.explain()  # SQL, not a meta-command: it ran, on the copy's server
        account, touched = proof.read_text().split()
        assert account.startswith("pgdrill-") and account != "postgres"
        assert touched != "0" and not target.exists(), "the copy's program wrote into another cluster"
    finally:
        proof.unlink(missing_ok=True)
