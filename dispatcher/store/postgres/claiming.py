"""Claiming an endpoint's next batch under a lease of its own, with several hosts claiming at once.

The rules are SQLite's (dispatcher.store.sqlite.claiming): up to the endpoint's concurrency of
its batches in flight, a waiting batch first, else a new one cut from its pending deliveries.
What PostgreSQL adds is the order between hosts: whoever changes an endpoint's batches holds
the endpoint's row lock for it, taken before any batch row, so claims and records of one
endpoint follow one another and never deadlock.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import tuple_row

from ...config import effective
from ...delivery_rules import in_flight_limit, lease_seconds, rate_limited_until
from ...models import Batch, Claim, DeliverySettings
from ..ids import time_ordered_id
from ..rows import endpoint_from_row, event_from_row, time_or_none
from .connection import PgConnection
from .rows import events_in_order

# NO KEY UPDATE rather than UPDATE: it keeps out every other claim and record of the endpoint,
# but not a producer's insert, whose fan-out holds the endpoint FOR KEY SHARE until the
# application's transaction commits (an UPDATE lock would skip the endpoint all that time).
# SKIP LOCKED: an endpoint another host is claiming right now is that host's to serve; the
# caller learns nothing is due for it here, and tries it again later.
ENDPOINT_FOR_CLAIM = "SELECT * FROM endpoints WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED"


def claim(
    conn: PgConnection,
    endpoint_id: int,
    lease_id: str,
    now: datetime,
    defaults: DeliverySettings,
    row: dict[str, Any] | None = None,
) -> Claim | None:
    """Lease the endpoint's next batch to ``lease_id``; None if it may start none now: its batches
    in flight are as many as it may have, it waits (for a retry, or its rate limit), nothing is
    queued for it (or it is disabled or gone), or another host is claiming it at this moment.

    ``row`` is the endpoint's row when the caller has just locked it in this transaction.
    """
    if row is None:
        row = conn.execute(ENDPOINT_FOR_CLAIM, (endpoint_id,)).fetchone()
        if row is None:
            return None
    if not row["enabled"]:
        return None
    endpoint = endpoint_from_row(row)
    settings = effective(endpoint, defaults)
    until = rate_limited_until(settings.rate_limit, time_or_none(row["last_start_at"]))
    if until is not None and until > now:
        return None
    # Batch ids are compared byte by byte, as SQLite does, whatever the database's collation.
    open_batches = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT id, event_ids, attempts, due_at, first_attempt_at, coalesce(lease_expires_at > %s, false) "
            "FROM batches WHERE endpoint_id = %s AND state = 'pending' ORDER BY due_at, id COLLATE \"C\"",
            (now, endpoint_id),
        )
        .fetchall()
    )
    leased = sum(live for *_, live in open_batches)
    if leased >= in_flight_limit(endpoint.consecutive_failures, settings.concurrency):
        return None
    waiting = [batch for batch in open_batches if not batch[-1]]
    lease_expires_at = now + timedelta(seconds=lease_seconds(settings.timeout))
    batch: Batch | None
    if waiting:
        batch_id, event_ids, attempts, due_at, first_attempt_at, _ = waiting[0]
        if due_at > now:
            return None  # backing off: nothing new starts before the retry
        events = tuple(events_in_order(conn, event_ids))
        batch = _fitted(
            conn, Batch(batch_id, endpoint_id, events, attempts, time_or_none(first_attempt_at)), settings.batch_size
        )
        conn.execute(
            "UPDATE batches SET lease_id = %s, lease_expires_at = %s WHERE id = %s",
            (lease_id, lease_expires_at, batch_id),
        )
    else:
        batch = new_batch(conn, endpoint_id, settings, now, lease_id, lease_expires_at)
        if batch is None:
            return None
    if settings.rate_limit is not None:
        conn.execute("UPDATE endpoints SET last_start_at = %s WHERE id = %s", (now, endpoint_id))
    return Claim(endpoint, settings, batch)


def release(conn: PgConnection, batch_id: str, lease_id: str) -> None:
    """Give a claimed batch back unsent: it waits, due, for the next claim of its endpoint."""
    conn.execute(
        "UPDATE batches SET lease_id = NULL, lease_expires_at = NULL WHERE id = %s AND lease_id = %s",
        (batch_id, lease_id),
    )


def _fitted(conn: PgConnection, batch: Batch, size: int) -> Batch:
    """The open batch cut to the endpoint's batch size, which may have shrunk since it was made
    (a smaller --batch-size, or the raw format's one event per request). The events cut off go
    back to pending, ahead of the rest in the endpoint's order, as they were."""
    if len(batch.events) <= size:
        return batch
    kept, cut = batch.events[:size], [event.id for event in batch.events[size:]]
    conn.execute(
        "UPDATE batches SET event_ids = %s WHERE id = %s", (json.dumps([event.id for event in kept]), batch.id)
    )
    conn.execute("DELETE FROM deliveries WHERE endpoint_id = %s AND event_id = ANY(%s)", (batch.endpoint_id, cut))
    conn.execute(
        "INSERT INTO pending (endpoint_id, event_id) SELECT %s, unnest(%s::bigint[])", (batch.endpoint_id, cut)
    )
    return dataclasses.replace(batch, events=kept)


def new_batch(
    conn: PgConnection,
    endpoint_id: int,
    settings: DeliverySettings,
    now: datetime,
    lease_id: str,
    lease_expires_at: datetime,
) -> Batch | None:
    """Move the next ``batch_size`` pending deliveries, in the endpoint's order, into a new batch
    leased to ``lease_id``."""
    descending = settings.order == "desc"
    rows = (
        conn.cursor(row_factory=tuple_row)
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
        conn.execute(f"DELETE FROM pending AS p WHERE p.endpoint_id = %s AND {orphan}", (endpoint_id,))
        return None
    ids = [event.id for event in events]
    conn.execute(
        f"DELETE FROM pending AS p WHERE p.endpoint_id = %s AND p.event_id {'>=' if descending else '<='} %s "
        f"AND (p.event_id = ANY(%s) OR {orphan})",
        (endpoint_id, ids[-1], ids),
    )
    batch_id = time_ordered_id(now)
    conn.execute(
        "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at, lease_id, lease_expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (batch_id, endpoint_id, json.dumps(ids), now, now, lease_id, lease_expires_at),
    )
    conn.execute(
        "INSERT INTO deliveries (endpoint_id, event_id, batch_id) SELECT %s, unnest(%s::bigint[]), %s",
        (endpoint_id, ids, batch_id),
    )
    return Batch(batch_id, endpoint_id, events, 0)
