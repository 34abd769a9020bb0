"""The producer's one statement, importable without the rest of the store: `dispatcher enqueue`
runs it once per event, in a process that loads nothing else (see dispatcher/console.py)."""

from __future__ import annotations

import sqlite3

# pending is keyed (endpoint, event): one primary-key probe per endpoint, not a scan of the backlog.
_QUEUED_FOR = (
    "SELECT count(*) FROM endpoints CROSS JOIN pending ON pending.endpoint_id = endpoints.id AND pending.event_id = ?"
)


def enqueue_into(path: str, type_: str, payload: str) -> tuple[int, int] | None:
    """Queue one event in the file at ``path`` if its schema is the current one; returns its id and
    how many endpoints it was queued for. None, having written nothing, when the file needs setting
    up or upgrading, cannot be opened, or refuses the event: the full store then says why."""
    from ...errors import DispatcherError
    from .connection import SCHEMA_VERSION, Connection, connect

    try:
        conn = connect(path)
    except DispatcherError:
        return None
    try:
        if Connection(conn).schema_version() != SCHEMA_VERSION:
            return None
        return insert_event_counted(conn, type_, payload)
    except Exception:  # refused by the schema, say: nothing was written
        return None
    finally:
        conn.close()


def insert_event(conn: sqlite3.Connection, type_: str, payload: str) -> int:
    """Queue one event; returns its id."""
    return _insert(conn, type_, payload, count=False)[0]


def insert_event_counted(conn: sqlite3.Connection, type_: str, payload: str) -> tuple[int, int]:
    """Queue one event; returns its id and how many endpoints it was queued for (0: kept, never sent).

    The count is one more statement per event: the producer API, called in loops, does without it."""
    return _insert(conn, type_, payload, count=True)


def _insert(conn: sqlite3.Connection, type_: str, payload: str, count: bool) -> tuple[int, int]:
    # One transaction, the trigger's fan-out included; the count is read inside it, before any
    # run can claim the new rows. A refused insert is rolled back, or the connection would stay
    # in its transaction, holding the write lock.
    try:
        cursor = conn.execute("INSERT INTO events (type, payload) VALUES (?, ?)", (type_, payload))
        event_id = int(cursor.lastrowid or 0)
        queued_for = conn.execute(_QUEUED_FOR, (event_id,)).fetchone()[0] if count else 0
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return event_id, int(queued_for)
