"""The storage module on a real SQLite file: schema, pragmas, leases, and index-only claims."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatcher import endpoints, recovery
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import BUILT_IN
from dispatcher.errors import DispatcherError
from dispatcher.models import Outcome, Selection
from dispatcher.producer import Queue
from dispatcher.store import Store, open_store
from dispatcher.store.sqlite.connection import SCHEMA_VERSION, connect, schema_sql

from .helpers import V5_SCHEMA


def add(store: Store, **options: object) -> int:
    return endpoints.add(store, "http://127.0.0.1:9/hook", secret="s", **options).id  # type: ignore[arg-type]


def ok() -> Outcome:
    return Outcome(ok=True, started_at=from_text("2026-11-22T10:00:00.000Z"), duration_ms=1, status_code=200)


def test_every_connection_gets_wal_foreign_keys_and_a_busy_timeout(store: Store) -> None:
    pragmas = {
        name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "foreign_keys", "busy_timeout")
    }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}
    assert store.schema_version() == SCHEMA_VERSION


def test_the_schema_is_applied_once_and_reopening_keeps_the_data(db_path: Path, store: Store) -> None:
    Queue(store).enqueue("a", {})
    reopened = open_store(db_path)
    assert reopened.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    reopened.close()


def test_processes_creating_the_schema_at_once_do_not_collide(db_path: Path) -> None:
    script = "import sys; from dispatcher.store import open_store; open_store(sys.argv[1]).close()"
    runs = [subprocess.Popen([sys.executable, "-c", script, str(db_path)], stderr=subprocess.PIPE) for _ in range(6)]
    assert [run.wait(30) for run in runs] == [0] * 6
    version = sqlite3.connect(db_path).execute("SELECT version FROM dispatcher_schema").fetchall()
    assert version == [(SCHEMA_VERSION,)]


def test_connections_racing_to_set_up_a_new_file_all_get_in(tmp_path: Path) -> None:
    """The README's first use has no `init`: producers open the new file at once. SQLite tells
    those losing the race to switch it to WAL "database is locked" without waiting; 8 threads
    starting together hit that in about one try in 30, so try many times."""
    failures: list[str] = []
    for attempt in range(150):
        path = tmp_path / f"new-{attempt}.db"
        start = threading.Barrier(8)

        def open_it(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                connect(path).close()
            except DispatcherError as error:
                failures.append(str(error))

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_the_schema_ships_once() -> None:
    top_level = Path(__file__).parent.parent / "schema.sql"
    assert schema_sql() == top_level.read_text()


V1_SCHEMA = Path(__file__).parent / "data" / "schema_v1.sql"


def make_v1_database(path: Path) -> None:
    """A file as version 0.1.0 left it, shared with an application: an endpoint; event 1 pending,
    2 and 3 delivered in one batch, 4 dead in another; an attempt for each batch."""
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA.read_text())
        conn.execute("INSERT INTO endpoints (url, secret) VALUES ('https://example.com/hook', 'old-secret')")
        for n in range(1, 5):
            conn.execute("INSERT INTO events (type, payload) VALUES ('lead.created', ?)", (f'{{"id": {n}}}',))
        for batch_id, state, event_ids in (("b1", "delivered", [2, 3]), ("b2", "dead", [4])):
            conn.execute(
                "INSERT INTO batches (id, endpoint_id, event_ids, state, attempts, due_at, created_at, finished_at) "
                "VALUES (?, 1, ?, ?, 1, ?, ?, ?)",
                (batch_id, json.dumps(event_ids), state, *["2026-11-20T10:00:00.000Z"] * 3),
            )
            conn.executemany(
                "UPDATE deliveries SET batch_id = ? WHERE event_id = ?", [(batch_id, n) for n in event_ids]
            )
            conn.execute(
                "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok) "
                "VALUES (1, ?, '2026-11-20T10:00:00.000Z', 5, ?)",
                (batch_id, int(state == "delivered")),
            )
        # The application's own table, with a row whose reference it never kept: not ours to judge.
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts (id))")
        conn.execute("INSERT INTO notes (contact_id) VALUES (42)")
    conn.close()


def columns(conn: sqlite3.Connection) -> dict[str, set[tuple[object, ...]]]:
    """Each table's columns (name, type, not null, default, primary key); an upgrade appends, so no order."""
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    shape = {table: {row[1:] for row in conn.execute(f"PRAGMA table_info({table})")} for table in tables}
    shape["indexes and triggers"] = set(conn.execute("SELECT type, name FROM sqlite_master WHERE type != 'table'"))
    # Without rowid or not; each index's uniqueness and partialness.
    shape["tables"] = {row[1:] for row in conn.execute("PRAGMA table_list") if row[0] == "main"}
    shape["indexes"] = {(table, *row[1:]) for table in tables for row in conn.execute(f"PRAGMA index_list({table})")}
    return shape


def test_a_version_1_database_is_upgraded_in_place_keeping_its_data(db_path: Path, tmp_path: Path) -> None:
    make_v1_database(db_path)
    upgraded = open_store(db_path)
    assert upgraded.schema_version() == SCHEMA_VERSION
    endpoint = upgraded.endpoint(1)
    assert (endpoint.secret, endpoint.format, endpoint.signing.scheme, endpoint.success) == (
        "old-secret",
        "batch",
        "mautic",
        "2xx",
    )
    (status,) = upgraded.status(datetime(2026, 11, 22, tzinfo=UTC))
    assert (status.pending, status.in_flight, status.delivered, status.dead) == (1, 0, 2, 1)
    assert [(letter.event_id, letter.died_at) for letter in upgraded.dead()] == [
        (4, from_text("2026-11-20T10:00:00.000Z"))
    ]
    assert [attempt.test for attempt in upgraded.attempts()] == [False, False]
    assert sorted(attempt.event_ids for attempt in upgraded.attempts()) == [(2, 3), (4,)]
    # Column for column what a new database gets, beside the application's own table.
    fresh = open_store(tmp_path / "fresh.db")
    fresh.conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts (id))")
    assert columns(upgraded.conn) == columns(fresh.conn)
    upgraded.close()
    fresh.close()


def test_processes_upgrading_at_once_do_not_collide(db_path: Path) -> None:
    make_v1_database(db_path)
    script = "import sys; from dispatcher.store import open_store; open_store(sys.argv[1]).close()"
    runs = [subprocess.Popen([sys.executable, "-c", script, str(db_path)], stderr=subprocess.PIPE) for _ in range(6)]
    assert [run.wait(30) for run in runs] == [0] * 6
    version = sqlite3.connect(db_path).execute("SELECT version FROM dispatcher_schema").fetchall()
    assert version == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_delivery_loop_never_scans_history(store: Store, clock: ManualClock, order: str) -> None:
    """Every statement of claim, record and due-check reads through an index.

    This is what keeps a claim as cheap with 1,000,000 delivered rows as with 100.
    """
    endpoint_id = add(store, order=order)
    Queue(store).enqueue_many("a", [{}] * 30)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.due_endpoints(clock.now(), BUILT_IN)
    _, _, batch = store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    store.record_outcome(batch, "lease", ok(), None, clock.now())
    store.conn.set_trace_callback(None)
    assert table_scans(store, statements) == []


def table_scans(store: Store, statements: list[str]) -> list[tuple[str, str]]:
    """The statements' steps that read a whole table that grows with the queue or its history."""
    scans = []
    for sql in statements:
        if sql.split()[0].upper() not in ("SELECT", "UPDATE", "INSERT", "DELETE", "WITH"):
            continue
        for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            detail = row[3]
            # Endpoints are few, dispatcher_prune is one row, json_each a batch's own id list.
            # Anything else must SEARCH.
            scanned = detail.split()[1] if detail.startswith("SCAN") else None
            if scanned in ("e", "n", "endpoints", "dispatcher_prune") or "VIRTUAL TABLE" in detail:
                continue
            if scanned and not scanned.startswith("(subquery"):  # a subquery's own few rows
                scans.append((sql, detail))
    return scans


def test_queueing_one_event_never_scans_the_queue(store: Store) -> None:
    """Enqueue counts the endpoints it queued the event for (to warn when none): by lookup, not by
    reading a backlog of 100,000 pending rows."""
    add(store)
    Queue(store).enqueue_many("a", [{}] * 30)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    queued = Queue(store).put("a", {})
    store.conn.set_trace_callback(None)
    assert queued.endpoints == 1
    assert table_scans(store, statements) == []


def test_replay_and_prune_never_scan_the_queue_or_its_history(store: Store, clock: ManualClock) -> None:
    """Both run next to a full queue and a long history, chunk after chunk: each step is a lookup."""
    delivered, dead = add(store), add(store, max_attempts=1)
    Queue(store).enqueue_many("a", [{}] * 30)
    for endpoint_id, outcome in ((delivered, ok()), (dead, replace(ok(), ok=False, status_code=500))):
        while claim := store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN):
            store.record_outcome(claim[2], "lease", outcome, None, clock.now())
    clock.advance(60)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.dead(dead)
    selections = [
        Selection(dead_only=True),
        Selection(endpoint_id=delivered, since=from_text("2026-01-01T00:00:00.000Z")),
    ]
    for selection in selections:
        store.count_replayable(selection)
        store.replay(selection)
    recovery.prune(store, 0, clock.now() + timedelta(days=2), dead=True)
    store.conn.set_trace_callback(None)
    assert counts_of(store, "batches", "deliveries") == (0, 0)  # it all ran, and went
    assert table_scans(store, statements) == []


def counts_of(store: Store, *tables: str) -> tuple[int, ...]:
    return tuple(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables)


def test_an_application_database_sharing_the_file_is_set_up_alongside(db_path: Path) -> None:
    app = sqlite3.connect(db_path)
    app.executescript("PRAGMA user_version = 7; CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT);")
    app.close()

    store = open_store(db_path)
    Queue(store).enqueue("contact.created", {"id": 1})
    store.close()

    app = sqlite3.connect(db_path)
    assert app.execute("PRAGMA user_version").fetchone() == (7,)  # the application's, untouched
    assert app.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_a_database_whose_own_tables_have_our_names_is_refused_untouched(db_path: Path) -> None:
    app = sqlite3.connect(db_path)
    app.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT); INSERT INTO events VALUES (1, 'x');")
    app.close()

    with pytest.raises(DispatcherError, match="already has tables named events"):
        open_store(db_path)

    app = sqlite3.connect(db_path)
    assert app.execute("SELECT name FROM sqlite_master").fetchall() == [("events",)]
    assert app.execute("SELECT * FROM events").fetchall() == [(1, "x")]


def test_a_new_database_is_readable_by_its_owner_only(db_path: Path) -> None:
    open_store(db_path).close()
    assert db_path.stat().st_mode & 0o777 == 0o600
    wal = Path(f"{db_path}-wal")
    writer = open_store(db_path)
    Queue(writer).enqueue("a", {})
    assert wal.exists() and wal.stat().st_mode & 0o777 == 0o600  # SQLite copies the file's mode
    writer.close()


def test_an_existing_files_permissions_are_left_alone(db_path: Path) -> None:
    sqlite3.connect(db_path).close()
    db_path.chmod(0o640)
    open_store(db_path).close()
    assert db_path.stat().st_mode & 0o777 == 0o640


def test_upgrading_from_version_5_takes_last_error_at_from_the_attempt_log(db_path: Path) -> None:
    """A file as version 5 left it: an endpoint whose last request failed, after an earlier failure
    and a failed test send (which is no part of its health)."""
    with sqlite3.connect(db_path) as conn:
        conn.executescript(V5_SCHEMA.read_text())
        conn.execute(
            "INSERT INTO endpoints (url, secret, last_error) VALUES ('https://example.com/hook', 's', 'HTTP 500')"
        )
        conn.executemany(
            "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, error, test) "
            "VALUES (1, 'b1', ?, 1000, 0, 'HTTP 500', ?)",
            [("2026-11-22T09:00:00.000Z", 0), ("2026-11-22T09:59:59.000Z", 0), ("2026-11-22T10:30:00.000Z", 1)],
        )
    conn.close()
    upgraded = open_store(db_path)
    now = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
    assert upgraded.status(now)[0].last_error_at == from_text("2026-11-22T09:59:59.000Z")
    upgraded.close()


def test_opening_without_create_refuses_a_missing_file_and_makes_none(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(DispatcherError, match="no database at .*typo.db") as refused:
        open_store(missing, create=False)
    assert refused.value.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_opening_without_create_takes_an_existing_file(db_path: Path, store: Store) -> None:
    Queue(store).enqueue("a", {})
    reopened = open_store(db_path, create=False)
    assert reopened.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    reopened.close()


def test_writers_queue_for_the_lock_file_that_other_processes_hold(db_path: Path, store: Store) -> None:
    """What overlapping runs and the processes of `--processes` take turns on: a write waits while
    another process holds the lock file, and goes on the moment it is released."""
    lock = Path(f"{db_path}-lock")
    assert lock.stat().st_mode & 0o777 == db_path.stat().st_mode & 0o777
    held = os.open(lock, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another process's write would
    wrote = threading.Event()

    def write() -> None:
        store.set_config("order", "desc")
        wrote.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not wrote.wait(0.3)
    fcntl.flock(held, fcntl.LOCK_UN)
    os.close(held)
    assert wrote.wait(5)
    thread.join()
    assert store.config()["order"] == "desc"


def test_without_a_lock_file_writers_still_write(db_path: Path, store: Store) -> None:
    store.close()
    Path(f"{db_path}-lock").unlink()
    Path(f"{db_path}-lock").mkdir()  # cannot be opened as a file: the busy handler alone serves
    reopened = open_store(db_path)
    assert reopened.lock_file is None
    reopened.set_config("order", "desc")
    assert reopened.config()["order"] == "desc"
    reopened.close()
