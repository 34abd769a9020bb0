"""Statements of the HTTP API's and admin pages' view of endpoints: a page of them, and the event
types a create form offers to subscribe to."""

from __future__ import annotations

from ...models import Endpoint
from ..rows import endpoint_from_row
from .connection import Connection


class Webhooks(Connection):
    def endpoints_after(self, after: int | None, limit: int) -> list[Endpoint]:
        rows = self.conn.execute("SELECT * FROM endpoints WHERE id > %s ORDER BY id LIMIT %s", (after or 0, limit))
        return [endpoint_from_row(row) for row in rows]

    def event_types(self, recent: int = 10_000, limit: int = 200) -> list[str]:
        """COLLATE "C" sorts by code point, as SQLite does, whatever the database's collation."""
        rows = self.conn.execute(
            'SELECT DISTINCT type COLLATE "C" AS type '
            "FROM (SELECT type FROM events ORDER BY id DESC LIMIT %s) AS recent ORDER BY 1 LIMIT %s",
            (recent, limit),
        )
        return [row["type"] for row in rows]
