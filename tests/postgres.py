"""Where the PostgreSQL tests find a server, in this order: the URL in $DISPATCHER_TEST_POSTGRES; a
server on 127.0.0.1:5432 (trust auth, user and database postgres, as on this machine and CI); or a
throwaway cluster made with the installed initdb and pg_ctl, stopped and deleted afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from .helpers import free_port

Conn = psycopg.Connection[Any]

ENV = "DISPATCHER_TEST_POSTGRES"
LOCAL_PORT = 5432
HOW_TO_ENABLE = (
    f"no PostgreSQL server for the PostgreSQL tests: set {ENV}=postgresql://USER@HOST:PORT/DATABASE, "
    "run one on 127.0.0.1:5432, or install PostgreSQL's server binaries (initdb, pg_ctl)"
)


def local_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


@contextmanager
def server(environ: Mapping[str, str], local_port: int = LOCAL_PORT) -> Iterator[str | None]:
    """The URL of a server to test against, or None when there is none to be had."""
    if environ.get(ENV):
        yield environ[ENV]  # asked for by name: a server that does not answer fails the tests, loudly
        return
    if answers(local_url(local_port)):
        yield local_url(local_port)
        return
    with throwaway_cluster() as url:
        yield url


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or the newest of Debian's /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda folder: int(Path(folder).parent.name))
    return Path(folders[-1]) if folders else None


@contextmanager
def throwaway_cluster() -> Iterator[str | None]:
    """A new cluster in a temporary folder on a free port (None without the binaries), gone afterwards.

    initdb and pg_ctl refuse to run as root: as root they run as the postgres user, in a folder it owns.
    """
    binaries = server_binaries()
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            binaries = None
        as_user = ["runuser", "-u", "postgres", "--"]
    if binaries is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="dispatcher-postgres-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        try:
            yield local_url(port)
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def connect_as_application(url: str) -> Conn:
    """A connection as an application opens one: the server's defaults, search_path and all."""
    return psycopg.connect(url)


def new_schema_name() -> str:
    return f"test_{secrets.token_hex(6)}"


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def add_endpoint(pg: Conn, events: str = '["*"]') -> int:
    row = pg.execute(
        "INSERT INTO endpoints (url, secret, events) VALUES ('http://127.0.0.1:9/', 's', %s) RETURNING id", (events,)
    ).fetchone()
    pg.commit()
    assert row is not None
    return int(row[0])


def pending(pg: Conn) -> set[tuple[int, int]]:
    rows = pg.execute("SELECT endpoint_id, event_id FROM pending").fetchall()
    pg.commit()
    return set(rows)


def event_ids(pg: Conn) -> list[int]:
    ids = [row[0] for row in pg.execute("SELECT id FROM events ORDER BY id")]
    pg.commit()
    return ids


def insert_event(conn: Conn, schema: str, type_: str, payload: str) -> int:
    row = conn.execute(
        sql.SQL("INSERT INTO {}.events (type, payload) VALUES (%s, %s) RETURNING id").format(sql.Identifier(schema)),
        (type_, payload),
    ).fetchone()
    assert row is not None
    return int(row[0])
