"""The producer's one statement, importable without the rest of the store: `dispatcher enqueue`
runs it once per event, in a process that loads nothing else (see dispatcher/console.py)."""

from __future__ import annotations

import sqlite3

# pending is keyed (endpoint, event): one primary-key probe per endpoint, not a scan of the backlog.
_QUEUED_FOR = (
    "SELECT count(*) FROM endpoints CROSS JOIN pending ON pending.endpoint_id = endpoints.id AND pending.event_id = ?"
)


def insert_event(conn: sqlite3.Connection, type_: str, payload: str) -> tuple[int, int]:
    """Queue one event; returns its id and how many endpoints it was queued for."""
    # One transaction, the trigger's fan-out included; the count is read inside it, before any
    # run can claim the new rows. A refused insert is rolled back, or the connection would stay
    # in its transaction, holding the write lock.
    try:
        cursor = conn.execute("INSERT INTO events (type, payload) VALUES (?, ?)", (type_, payload))
        event_id = int(cursor.lastrowid or 0)
        (queued_for,) = conn.execute(_QUEUED_FOR, (event_id,)).fetchone()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return event_id, int(queued_for)
