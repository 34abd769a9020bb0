"""Statements of the HTTP API's and admin pages' view of endpoints: a page of them, their
descriptions, and the event types a create form offers to subscribe to."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..errors import NotFound
from ..models import Endpoint
from .connection import Connection
from .rows import endpoint_from_row


class Webhooks(Connection):
    def endpoints_after(self, after: int | None, limit: int) -> list[Endpoint]:
        """Up to ``limit`` endpoints with ids above ``after`` (None: from the first), by id."""
        rows = self.db.query("SELECT * FROM endpoints WHERE id > ? ORDER BY id LIMIT ?", (after or 0, limit))
        return [endpoint_from_row(row) for row in rows]

    # The description is an endpoint setting once the settings table lands; until then it is read
    # and written beside the others here.
    def endpoint_descriptions(self, endpoint_ids: Sequence[int]) -> dict[int, str | None]:
        rows = self.conn.execute(
            "SELECT id, description FROM endpoints WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(endpoint_ids)),),
        )
        return {endpoint_id: description for endpoint_id, description in rows}

    def set_endpoint_description(self, endpoint_id: int, description: str | None) -> None:
        with self.write() as conn:
            if not conn.execute(
                "UPDATE endpoints SET description = ? WHERE id = ? RETURNING id", (description, endpoint_id)
            ).fetchone():
                raise NotFound(f"no endpoint {endpoint_id}")

    def event_types(self, recent: int = 10_000, limit: int = 200) -> list[str]:
        """The distinct types among the ``recent`` newest events, sorted, at most ``limit`` of them.

        Bounded to recent events: a form offering them must not scan a queue of millions.
        """
        rows = self.conn.execute(
            "SELECT DISTINCT type FROM (SELECT type FROM events ORDER BY id DESC LIMIT ?) ORDER BY type LIMIT ?",
            (recent, limit),
        )
        return [event_type for (event_type,) in rows]
