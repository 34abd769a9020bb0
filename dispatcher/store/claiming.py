"""Claiming an endpoint's next batch: its lease, its open batch, or a new batch of pending deliveries."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime

from ..clock import to_text
from ..models import Batch, Endpoint, Event, Settings
from ..settings import effective
from .ids import time_ordered_id
from .rows import dicts, endpoint_from_row, events_in_order

# A lease outlives the request it covers by this much, so a live worker never
# loses its endpoint mid-request, and a killed one's batch is resent soon after.
LEASE_MARGIN_S = 30.0

Claim = tuple[Endpoint, Settings, Batch]

# lease_seconds() of the endpoint's own timeout, or the global one, from :now_s.
LEASE_EXPIRY = (
    "strftime('%Y-%m-%dT%H:%M:%fZ', "
    f":now_s + 2 * coalesce(timeout_ms / 1000.0, :timeout) + {LEASE_MARGIN_S}, 'unixepoch')"
)


def lease_seconds(timeout: float) -> float:
    """How long a claim holds its endpoint: the longest one request can take, plus a margin.

    Connecting may use the whole timeout and waiting for the response to begin
    another (requests' connect and read timeouts); the body is cut off at the deadline.
    """
    return 2 * timeout + LEASE_MARGIN_S


def lease_params(lease_id: str, endpoint_id: int, now: datetime, defaults: Settings) -> dict[str, object]:
    return {
        "lease": lease_id,
        "id": endpoint_id,
        "now": to_text(now),
        "now_s": now.timestamp(),
        "timeout": defaults.timeout,
    }


def claim(conn: sqlite3.Connection, endpoint_id: int, lease_id: str, now: datetime, defaults: Settings) -> Claim | None:
    now_text = to_text(now)
    cursor = conn.execute(
        f"UPDATE endpoints SET lease_id = :lease, lease_expires_at = {LEASE_EXPIRY} "
        "WHERE id = :id AND enabled = 1 AND (lease_id = :lease "
        "OR lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING *",
        lease_params(lease_id, endpoint_id, now, defaults),
    )
    rows = dicts(cursor)
    if not rows:
        return None
    endpoint = endpoint_from_row(rows[0])
    settings = effective(endpoint, defaults)
    batch: Batch | None
    waiting = _open_batch(conn, endpoint_id)
    if waiting is None:
        batch = new_batch(conn, endpoint_id, settings, now)
    else:
        open_batch, due_at = waiting
        # A retry that is not due yet holds back everything behind it.
        batch = _fitted(conn, open_batch, settings.batch_size) if due_at <= now_text else None
    if batch is None:
        release(conn, endpoint_id)
        return None
    return endpoint, settings, batch


def release(conn: sqlite3.Connection, endpoint_id: int) -> None:
    conn.execute("UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ?", (endpoint_id,))


def _open_batch(conn: sqlite3.Connection, endpoint_id: int) -> tuple[Batch, str] | None:
    """The endpoint's one pending batch, with its due time."""
    row = conn.execute(
        "SELECT id, event_ids, attempts, due_at, first_attempt_at FROM batches "
        "WHERE endpoint_id = ? AND state = 'pending'",
        (endpoint_id,),
    ).fetchone()
    if row is None:
        return None
    batch_id, event_ids, attempts, due_at, first_attempt_at = row
    events = tuple(events_in_order(conn, event_ids))
    return Batch(batch_id, endpoint_id, events, attempts, first_attempt_at), due_at


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


def new_batch(conn: sqlite3.Connection, endpoint_id: int, settings: Settings, now: datetime) -> Batch | None:
    """Move the next ``batch_size`` pending deliveries, in the endpoint's order, into a new batch."""
    descending = settings.order == "desc"
    events = tuple(
        Event(*row)
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
        "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at) VALUES (?, ?, ?, ?, ?)",
        (batch_id, endpoint_id, ids_json, now_text, now_text),
    )
    conn.execute(
        "INSERT INTO deliveries (endpoint_id, event_id, batch_id) SELECT ?, value, ? FROM json_each(?)",
        (endpoint_id, batch_id, ids_json),
    )
    return Batch(batch_id, endpoint_id, events, 0)
