"""Row helpers only SQLite needs; the rest are every backend's (dispatcher.store.rows)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...models import Event
from ..rows import event_from_row


def dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def events_in_order(conn: sqlite3.Connection, ids_json: str) -> list[Event]:
    """The events whose ids are in the JSON array ``ids_json``, in that array's order."""
    rows = conn.execute(
        "SELECT e.id, e.type, e.payload, e.created_at "
        "FROM json_each(?) AS wanted JOIN events AS e ON e.id = wanted.value "
        "ORDER BY wanted.key",
        (ids_json,),
    )
    return [event_from_row(row) for row in rows]
