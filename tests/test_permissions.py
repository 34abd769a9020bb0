"""`dispatcher init --group`: a web app running as another user can insert events, with real users.

Two throwaway users, each with a group of its own and both in a shared group, stand for the web
server's user (www-data) and the user cron runs `dispatcher process` as. They insert with the system
Python's sqlite3, as a PHP app would with PDO: what matters is who may open which file.
"""

from __future__ import annotations

import grp
import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.errors import DispatcherError
from dispatcher.permissions import find_group, share_with_group

SYSTEM_PYTHON = "/usr/bin/python3"
INSERT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=5)
with conn:
    conn.execute("INSERT INTO events (type, payload) VALUES ('lead.created', '{}')")
print("inserted", flush=True)
sys.stdin.readline()  # keeps the connection, and so the -wal and -shm files, open until told
"""


@dataclass(frozen=True)
class Accounts:
    group: str
    web: str  # the web app's user
    cron: str  # the user `dispatcher process` runs as
    folder: Path  # a directory both may reach, owned by root and the shared group


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.skip("needs root, to create throwaway users and groups")
    if not (shutil.which("useradd") and shutil.which("runuser") and os.access(SYSTEM_PYTHON, os.X_OK)):
        pytest.skip("needs useradd, runuser and /usr/bin/python3")
    tag = secrets.token_hex(3)
    made = Accounts(f"dsp{tag}", f"dsp{tag}w", f"dsp{tag}c", Path(tempfile.mkdtemp(prefix="dispatcher-share-")))
    subprocess.run(["groupadd", made.group], check=True)
    try:
        for user in (made.web, made.cron):
            # -U: a group of its own as the primary group, as www-data has; the shared group besides.
            subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", "-G", made.group, user], check=True)
        os.chown(made.folder, 0, grp.getgrnam(made.group).gr_gid)
        yield made
    finally:
        for user in (made.web, made.cron):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", made.group], capture_output=True)
        shutil.rmtree(made.folder, ignore_errors=True)


def start_insert(user: str, database: Path) -> subprocess.Popen[str]:
    """``user`` inserts an event and holds the connection open until ``finish``."""
    return subprocess.Popen(
        ["runuser", "-u", user, "--", SYSTEM_PYTHON, "-I", "-c", INSERT, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )


def finish(process: subprocess.Popen[str]) -> tuple[bool, str]:
    """(whether the insert went in, stderr); lets the process close its connection and end."""
    assert process.stdout is not None
    inserted = process.stdout.readline() == "inserted\n"
    _, stderr = process.communicate("\n", timeout=30)
    return inserted, stderr


def insert_as(user: str, database: Path) -> tuple[bool, str]:
    return finish(start_insert(user, database))


def init(database: Path, *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["--db", str(database), "init", *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def event_count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_the_web_user_can_insert_into_a_database_made_with_group(accounts: Accounts) -> None:
    os.chmod(accounts.folder, 0o2770)
    shared, private = accounts.folder / "app.db", accounts.folder / "private.db"
    stdout, stderr = init(shared, "--group", accounts.group)
    assert stdout.splitlines() == [
        f"database ready: {shared}",
        f"group {accounts.group} can read and write {shared} (mode 0660)",
    ]
    assert stderr == ""
    for made in (shared, Path(f"{shared}-lock")):  # the lock file the dispatcher's writers queue on too
        info = made.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o660, grp.getgrnam(accounts.group).gr_gid)
    assert insert_as(accounts.web, shared) == (True, "")
    assert event_count(shared) == 1

    init(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    inserted, error = insert_as(accounts.web, private)
    assert not inserted and "unable to open database file" in error


@pytest.mark.parametrize("setgid", [True, False], ids=["setgid-folder", "plain-group-folder"])
def test_wal_and_shm_made_by_one_user_serve_the_other_if_the_folder_is_setgid(accounts: Accounts, setgid: bool) -> None:
    os.chmod(accounts.folder, 0o2770 if setgid else 0o770)
    database = accounts.folder / "app.db"
    _, warning = init(database, "--group", accounts.group)
    assert ("is not setgid" in warning) is not setgid

    web = start_insert(accounts.web, database)  # the web app opens it first: it makes the -wal and -shm
    try:
        assert web.stdout is not None and web.stdout.readline() == "inserted\n"
        wal = Path(f"{database}-wal").stat()
        shared_gid = grp.getgrnam(accounts.group).gr_gid
        assert stat.S_IMODE(wal.st_mode) == 0o660  # the database's mode, whoever made it
        assert (wal.st_gid == shared_gid) is setgid  # else the web user's own group
        cron_inserted, error = insert_as(accounts.cron, database)
    finally:
        web.communicate("\n", timeout=30)
    if setgid:
        assert (cron_inserted, error) == (True, "")
        assert event_count(database) == 2
    else:
        assert not cron_inserted and "unable to open database file" in error


def test_init_says_how_to_fix_a_folder_the_group_cannot_write(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name  # the folder is ours but not group-writable
    os.chmod(tmp_path, 0o755)
    database = tmp_path / "app.db"
    _, warning = init(database, "--group", group)
    assert warning.splitlines() == [
        f"Warning: group {group} cannot create files in {tmp_path}, where SQLite keeps the database's -wal "
        f"and -shm files; fix: chgrp {group} {tmp_path} && chmod g+rwxs {tmp_path}"
    ]
    os.chmod(database, 0o600)  # an existing file is given to the group too
    init(database, "--group", group)
    assert stat.S_IMODE(database.stat().st_mode) == 0o660


def test_an_unknown_group_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    result = CliRunner().invoke(cli, ["--db", str(database), "init", "--group", "no-such-group-x"])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", "Error: no group 'no-such-group-x'\n")
    assert not database.exists()
    with pytest.raises(DispatcherError, match="no group"):
        find_group("bad\x00name")


def test_sharing_a_missing_file_is_an_error(tmp_path: Path) -> None:
    group = find_group(grp.getgrgid(os.getgid()).gr_name)
    with pytest.raises(DispatcherError, match="no database file") as caught:
        share_with_group(tmp_path / "missing.db", group)
    assert caught.value.exit_code == 1
