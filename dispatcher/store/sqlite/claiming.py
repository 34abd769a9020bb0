"""Claiming an endpoint's next batch under a lease of its own: a waiting batch first, else a new one.

Up to the endpoint's concurrency of its batches are in flight at once, each leased
by whoever sends it. A batch waiting for its retry holds back every new batch: the
endpoint backs off as a whole, and its retry goes first.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from ...clock import from_text, to_text
from ...config import effective
from ...delivery_rules import in_flight_limit, lease_seconds, rate_limited_until
from ...models import Batch, Claim, DeliverySettings
from ..ids import time_ordered_id
from ..rows import endpoint_from_row, event_from_row, time_or_none
from .rows import dicts, events_in_order


def claim(
    conn: sqlite3.Connection,
    endpoint_id: int,
    lease_id: str,
    now: datetime,
    defaults: DeliverySettings,
    row: dict[str, Any] | None = None,
) -> Claim | None:
    """Lease the endpoint's next batch to ``lease_id``; None if it may start none now: its batches
    in flight are as many as it may have, it waits (for a retry, or its rate limit), or nothing is
    queued for it (or it is disabled or gone).

    ``row`` is the endpoint's row when the caller has just read it in this transaction.
    """
    if row is None:
        rows = dicts(conn.execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        if not rows:
            return None
        row = rows[0]
    if not row["enabled"]:
        return None
    endpoint = endpoint_from_row(row)
    settings = effective(endpoint, defaults)
    until = rate_limited_until(settings.rate_limit, from_text(row["last_start_at"]) if row["last_start_at"] else None)
    if until is not None and until > now:
        return None
    now_text = to_text(now)
    open_batches = conn.execute(
        "SELECT id, event_ids, attempts, due_at, first_attempt_at, coalesce(lease_expires_at > ?, 0) "
        "FROM batches WHERE endpoint_id = ? AND state = 'pending' ORDER BY due_at, id",
        (now_text, endpoint_id),
    ).fetchall()
    leased = sum(live for *_, live in open_batches)
    if leased >= in_flight_limit(endpoint.consecutive_failures, settings.concurrency):
        return None
    waiting = [batch for batch in open_batches if not batch[-1]]
    lease_expires_at = to_text(now + timedelta(seconds=lease_seconds(settings.timeout)))
    batch: Batch | None
    if waiting:
        batch_id, event_ids, attempts, due_at, first_attempt_at, _ = waiting[0]
        if due_at > now_text:
            return None  # backing off: nothing new starts before the retry
        events = tuple(events_in_order(conn, event_ids))
        batch = _fitted(
            conn, Batch(batch_id, endpoint_id, events, attempts, time_or_none(first_attempt_at)), settings.batch_size
        )
        conn.execute(
            "UPDATE batches SET lease_id = ?, lease_expires_at = ? WHERE id = ?", (lease_id, lease_expires_at, batch_id)
        )
    else:
        batch = new_batch(conn, endpoint_id, settings, now, lease_id, lease_expires_at)
        if batch is None:
            return None
    if settings.rate_limit is not None:
        conn.execute("UPDATE endpoints SET last_start_at = ? WHERE id = ?", (now_text, endpoint_id))
    return Claim(endpoint, settings, batch)


def release(conn: sqlite3.Connection, batch_id: str, lease_id: str) -> None:
    """Give a claimed batch back unsent: it waits, due, for the next claim of its endpoint."""
    conn.execute(
        "UPDATE batches SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
        (batch_id, lease_id),
    )


def _fitted(conn: sqlite3.Connection, batch: Batch, size: int) -> Batch:
    """The open batch cut to the endpoint's batch size, which may have shrunk since it was made
    (a smaller --batch-size, or the raw format's one event per request). The events cut off go
    back to pending, ahead of the rest in the endpoint's order, as they were."""
    if len(batch.events) <= size:
        return batch
    kept, cut = batch.events[:size], [event.id for event in batch.events[size:]]
    conn.execute("UPDATE batches SET event_ids = ? WHERE id = ?", (json.dumps([event.id for event in kept]), batch.id))
    conn.executemany(
        "DELETE FROM deliveries WHERE endpoint_id = ? AND event_id = ?", [(batch.endpoint_id, id_) for id_ in cut]
    )
    conn.executemany(
        "INSERT INTO pending (endpoint_id, event_id) VALUES (?, ?)", [(batch.endpoint_id, id_) for id_ in cut]
    )
    return dataclasses.replace(batch, events=kept)


def new_batch(
    conn: sqlite3.Connection,
    endpoint_id: int,
    settings: DeliverySettings,
    now: datetime,
    lease_id: str,
    lease_expires_at: str,
) -> Batch | None:
    """Move the next ``batch_size`` pending deliveries, in the endpoint's order, into a new batch
    leased to ``lease_id``."""
    descending = settings.order == "desc"
    events = tuple(
        event_from_row(row)
        for row in conn.execute(
            "SELECT e.id, e.type, e.payload, e.created_at FROM pending AS p JOIN events AS e ON e.id = p.event_id "
            f"WHERE p.endpoint_id = ? ORDER BY p.event_id {'DESC' if descending else 'ASC'} LIMIT ?",
            (endpoint_id, settings.batch_size),
        )
    )
    if not events:
        # Whatever is still queued has lost its event (deleted by hand): it can never be sent,
        # and left in place it would keep the endpoint due for ever.
        conn.execute("DELETE FROM pending WHERE endpoint_id = ?", (endpoint_id,))
        return None
    # The events taken are the first in the endpoint's order, so the rows up to the last of them
    # are exactly theirs (and any whose event was deleted by hand, which can never be sent).
    conn.execute(
        f"DELETE FROM pending WHERE endpoint_id = ? AND event_id {'>=' if descending else '<='} ?",
        (endpoint_id, events[-1].id),
    )
    ids_json = json.dumps([event.id for event in events])
    batch_id = time_ordered_id(now)
    now_text = to_text(now)
    conn.execute(
        "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at, lease_id, lease_expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (batch_id, endpoint_id, ids_json, now_text, now_text, lease_id, lease_expires_at),
    )
    conn.execute(
        "INSERT INTO deliveries (endpoint_id, event_id, batch_id) SELECT ?, value, ? FROM json_each(?)",
        (endpoint_id, batch_id, ids_json),
    )
    return Batch(batch_id, endpoint_id, events, 0)
