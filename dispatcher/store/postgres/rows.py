"""Row helpers only PostgreSQL needs; the rest are every backend's (dispatcher.store.rows)."""

from __future__ import annotations

from psycopg.rows import tuple_row

from ...models import Event
from ..rows import event_from_row
from .connection import PgConnection


def events_in_order(conn: PgConnection, ids_json: str) -> list[Event]:
    """The events whose ids are in the JSON array ``ids_json``, in that array's order."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT e.id, e.type, e.payload, e.created_at "
        "FROM json_array_elements_text(%s::json) WITH ORDINALITY AS wanted (id, n) "
        "JOIN events AS e ON e.id = wanted.id::bigint ORDER BY wanted.n",
        (ids_json,),
    )
    return [event_from_row(row) for row in rows]
