"""Claiming an endpoint's next batch under a lease of its own, with several hosts claiming at once.

Here are a claim's statements; dispatcher.store.claiming makes its decisions, by every backend's
rules. What PostgreSQL adds is the order between hosts: whoever changes an endpoint's batches
holds the endpoint's row lock for it, taken before any batch row, so claims and records of one
endpoint follow one another and never deadlock.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

from ...models import Batch, DeliverySettings, Event
from ..ids import time_ordered_id
from ..rows import event_from_row
from .connection import PgConnection
from .rows import events_in_order

# NO KEY UPDATE rather than UPDATE: it keeps out every other claim and record of the endpoint,
# but not a producer's insert, whose fan-out holds the endpoint FOR KEY SHARE until the
# application's transaction commits (an UPDATE lock would skip the endpoint all that time).
# SKIP LOCKED: an endpoint another host is claiming right now is that host's to serve; the
# caller learns nothing is due for it here, and tries it again later.
ENDPOINT_FOR_CLAIM = "SELECT * FROM endpoints WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED"


class PostgresClaims:
    """A claim's statements on one connection, in its open transaction."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def endpoint_row(self, endpoint_id: int) -> dict[str, Any] | None:
        return self.conn.execute(ENDPOINT_FOR_CLAIM, (endpoint_id,)).fetchone()

    def open_batches(self, endpoint_id: int, now: datetime) -> list[tuple[Any, ...]]:
        # Batch ids are compared byte by byte, as SQLite does, whatever the database's collation.
        return (
            self.conn.cursor(row_factory=tuple_row)
            .execute(
                "SELECT id, event_ids, attempts, due_at, first_attempt_at, coalesce(lease_expires_at > %s, false) "
                "FROM batches WHERE endpoint_id = %s AND state = 'pending' ORDER BY due_at, id COLLATE \"C\"",
                (now, endpoint_id),
            )
            .fetchall()
        )

    def events_in_order(self, ids_json: str) -> list[Event]:
        return events_in_order(self.conn, ids_json)

    def cut(self, batch: Batch, kept: list[int], cut: list[int]) -> None:
        self.conn.execute("UPDATE batches SET event_ids = %s WHERE id = %s", (json.dumps(kept), batch.id))
        self.conn.execute(
            "DELETE FROM deliveries WHERE endpoint_id = %s AND event_id = ANY(%s)", (batch.endpoint_id, cut)
        )
        self.conn.execute(
            "INSERT INTO pending (endpoint_id, event_id) SELECT %s, unnest(%s::bigint[])", (batch.endpoint_id, cut)
        )

    def lease(self, batch_id: str, lease_id: str, lease_expires_at: datetime) -> None:
        self.conn.execute(
            "UPDATE batches SET lease_id = %s, lease_expires_at = %s WHERE id = %s",
            (lease_id, lease_expires_at, batch_id),
        )

    def started(self, endpoint_id: int, now: datetime) -> None:
        self.conn.execute("UPDATE endpoints SET last_start_at = %s WHERE id = %s", (now, endpoint_id))

    def new_batch(
        self, endpoint_id: int, settings: DeliverySettings, now: datetime, lease_id: str, lease_expires_at: datetime
    ) -> Batch | None:
        descending = settings.order == "desc"
        rows = (
            self.conn.cursor(row_factory=tuple_row)
            .execute(
                "SELECT e.id, e.type, e.payload, e.created_at FROM pending AS p JOIN events AS e ON e.id = p.event_id "
                f"WHERE p.endpoint_id = %s ORDER BY p.event_id {'DESC' if descending else 'ASC'} LIMIT %s",
                (endpoint_id, settings.batch_size),
            )
            .fetchall()
        )
        events = tuple(event_from_row(row) for row in rows)
        # Unlike SQLite's, these deletes name the rows they take: event ids are handed out to
        # concurrent producers interleaved, so a row below the last one taken may have been
        # committed since the read, and must stay queued. A row whose event was deleted by hand can
        # never be sent, and left in place would keep the endpoint due for ever: it goes too.
        orphan = "NOT EXISTS (SELECT 1 FROM events AS e WHERE e.id = p.event_id)"
        if not events:
            self.conn.execute(f"DELETE FROM pending AS p WHERE p.endpoint_id = %s AND {orphan}", (endpoint_id,))
            return None
        ids = [event.id for event in events]
        self.conn.execute(
            f"DELETE FROM pending AS p WHERE p.endpoint_id = %s AND p.event_id {'>=' if descending else '<='} %s "
            f"AND (p.event_id = ANY(%s) OR {orphan})",
            (endpoint_id, ids[-1], ids),
        )
        batch_id = time_ordered_id(now)
        self.conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at, lease_id, lease_expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (batch_id, endpoint_id, json.dumps(ids), now, now, lease_id, lease_expires_at),
        )
        self.conn.execute(
            "INSERT INTO deliveries (endpoint_id, event_id, batch_id) SELECT %s, unnest(%s::bigint[]), %s",
            (endpoint_id, ids, batch_id),
        )
        return Batch(batch_id, endpoint_id, events, 0)


def release(conn: PgConnection, batch_id: str, lease_id: str) -> None:
    """Give a claimed batch back unsent: it waits, due, for the next claim of its endpoint."""
    conn.execute(
        "UPDATE batches SET lease_id = NULL, lease_expires_at = NULL WHERE id = %s AND lease_id = %s",
        (batch_id, lease_id),
    )
