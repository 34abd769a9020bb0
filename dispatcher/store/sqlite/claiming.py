"""Claiming on SQLite: a claim's statements (dispatcher.store.claiming makes its decisions)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ...clock import to_text
from ...models import Batch, DeliverySettings, Event
from ..ids import time_ordered_id
from ..rows import event_from_row
from .rows import dicts, events_in_order


class SQLiteClaims:
    """A claim's statements on one connection, in its open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def endpoint_row(self, endpoint_id: int) -> dict[str, Any] | None:
        rows = dicts(self.conn.execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        return rows[0] if rows else None

    def open_batches(self, endpoint_id: int, now: datetime) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT id, event_ids, attempts, due_at, first_attempt_at, coalesce(lease_expires_at > ?, 0) "
            "FROM batches WHERE endpoint_id = ? AND state = 'pending' ORDER BY due_at, id",
            (to_text(now), endpoint_id),
        ).fetchall()

    def events_in_order(self, ids_json: str) -> list[Event]:
        return events_in_order(self.conn, ids_json)

    def cut(self, batch: Batch, kept: list[int], cut: list[int]) -> None:
        self.conn.execute("UPDATE batches SET event_ids = ? WHERE id = ?", (json.dumps(kept), batch.id))
        self.conn.executemany(
            "DELETE FROM deliveries WHERE endpoint_id = ? AND event_id = ?", [(batch.endpoint_id, id_) for id_ in cut]
        )
        self.conn.executemany(
            "INSERT INTO pending (endpoint_id, event_id) VALUES (?, ?)", [(batch.endpoint_id, id_) for id_ in cut]
        )

    def lease(self, batch_id: str, lease_id: str, lease_expires_at: datetime) -> None:
        self.conn.execute(
            "UPDATE batches SET lease_id = ?, lease_expires_at = ? WHERE id = ?",
            (lease_id, to_text(lease_expires_at), batch_id),
        )

    def started(self, endpoint_id: int, now: datetime) -> None:
        self.conn.execute("UPDATE endpoints SET last_start_at = ? WHERE id = ?", (to_text(now), endpoint_id))

    def new_batch(
        self, endpoint_id: int, settings: DeliverySettings, now: datetime, lease_id: str, lease_expires_at: datetime
    ) -> Batch | None:
        descending = settings.order == "desc"
        events = tuple(
            event_from_row(row)
            for row in self.conn.execute(
                "SELECT e.id, e.type, e.payload, e.created_at FROM pending AS p JOIN events AS e ON e.id = p.event_id "
                f"WHERE p.endpoint_id = ? ORDER BY p.event_id {'DESC' if descending else 'ASC'} LIMIT ?",
                (endpoint_id, settings.batch_size),
            )
        )
        if not events:
            # Whatever is still queued has lost its event (deleted by hand): it can never be sent,
            # and left in place it would keep the endpoint due for ever.
            self.conn.execute("DELETE FROM pending WHERE endpoint_id = ?", (endpoint_id,))
            return None
        # The events taken are the first in the endpoint's order, so the rows up to the last of them
        # are exactly theirs (and any whose event was deleted by hand, which can never be sent).
        self.conn.execute(
            f"DELETE FROM pending WHERE endpoint_id = ? AND event_id {'>=' if descending else '<='} ?",
            (endpoint_id, events[-1].id),
        )
        ids_json = json.dumps([event.id for event in events])
        batch_id = time_ordered_id(now)
        now_text = to_text(now)
        self.conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at, lease_id, lease_expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (batch_id, endpoint_id, ids_json, now_text, now_text, lease_id, to_text(lease_expires_at)),
        )
        self.conn.execute(
            "INSERT INTO deliveries (endpoint_id, event_id, batch_id) SELECT ?, value, ? FROM json_each(?)",
            (endpoint_id, batch_id, ids_json),
        )
        return Batch(batch_id, endpoint_id, events, 0)


def release(conn: sqlite3.Connection, batch_id: str, lease_id: str) -> None:
    """Give a claimed batch back unsent: it waits, due, for the next claim of its endpoint."""
    conn.execute(
        "UPDATE batches SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
        (batch_id, lease_id),
    )
