"""The process loop's statements: find due endpoints, claim batches under a lease, record outcomes.

A worker only changes an endpoint's batches while it holds the endpoint's
lease, and every outcome is written only if the lease is still its own."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import uuid
from datetime import datetime

from ..clock import to_text
from ..models import Batch, Endpoint, Event, Outcome, Recorded, Settings
from ..settings import effective
from .connection import Connection
from .rows import HEADERS_CAP, dicts, endpoint_from_row, events_in_order, headers_json

# A lease outlives the request it covers by this much, so a live worker never
# loses its endpoint mid-request, and a killed one's batch is resent soon after.
LEASE_MARGIN_S = 30.0


def lease_seconds(timeout: float) -> float:
    """How long a claim holds its endpoint: the longest one request can take, plus a margin.

    Connecting may use the whole timeout and waiting for the response to begin
    another (requests' connect and read timeouts); the body is cut off at the deadline.
    """
    return 2 * timeout + LEASE_MARGIN_S


class Delivering(Connection):
    def due_endpoints(self, now: datetime) -> list[tuple[int, str]]:
        """(endpoint id, due time) of every enabled endpoint with work and no live lease.

        An endpoint's due time is its open batch's (a retry goes first), else
        now if it has pending deliveries. Endpoints leased by a live run are
        left out: that run is serving them.
        """
        now_text = to_text(now)
        rows = self.conn.execute(
            """
            SELECT id, due_at FROM (
                SELECT e.id,
                       COALESCE(
                           (SELECT b.due_at FROM batches AS b
                            WHERE b.endpoint_id = e.id AND b.state = 'pending'),
                           (SELECT :now FROM pending AS p WHERE p.endpoint_id = e.id LIMIT 1)
                       ) AS due_at
                FROM endpoints AS e
                WHERE e.enabled = 1
                  AND (e.lease_expires_at IS NULL OR e.lease_expires_at <= :now)
            )
            WHERE due_at IS NOT NULL
            ORDER BY due_at, id
            """,
            {"now": now_text},
        )
        return [(int(endpoint_id), due_at) for endpoint_id, due_at in rows]

    def claim_batch(self, endpoint_id: int, lease_id: str, now: datetime, defaults: Settings) -> Claim | None:
        """Lease the endpoint (or renew our lease) and hand out its next due batch.

        The open batch comes first; if there is none, up to ``batch_size``
        pending deliveries become a new one. Returns None, with the lease
        released, when the endpoint is disabled, leased by someone else, or has
        nothing due.
        """
        with self.write() as conn:
            return _claim(conn, endpoint_id, lease_id, now, defaults)

    def record_outcome(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int = 0,
    ) -> Recorded | None:
        """Write one request's outcome, if the lease is still ours.

        On failure ``next_due`` is the retry time, or None when the batch is
        dead; either way the lease is released so the endpoint's next step
        waits for that time. The failure that makes ``disable_after``
        consecutive ones (0: never), or a 410 Gone, disables the endpoint; its
        deliveries stay queued. Returns None when the lease was lost and
        nothing was written.
        """
        with self.write() as conn:
            return _record(conn, batch, lease_id, outcome, next_due, now, disable_after)

    def record_and_claim(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int,
        defaults: Settings,
    ) -> tuple[Recorded | None, Claim | None]:
        """:meth:`record_outcome`, then after a success :meth:`claim_batch`, in one transaction.

        The process loop's step from one batch to the next: one commit instead of two.
        """
        with self.write() as conn:
            if outcome.ok:
                stepped = _deliver_and_claim(conn, batch, lease_id, outcome, now, defaults)
                if stepped is not None:
                    return stepped
            recorded = _record(conn, batch, lease_id, outcome, next_due, now, disable_after)
            if recorded is not None and recorded.state == "delivered":
                _release(conn, batch.endpoint_id)  # disabled meanwhile: the lease is of no more use
            return recorded, None

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        """Log an `endpoint test` request; no batch, counter or health field changes."""
        with self.write() as conn:
            _insert_attempt(conn, endpoint_id, delivery_id, outcome, test=True)

    def release_lease(self, endpoint_id: int, lease_id: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
                (endpoint_id, lease_id),
            )


def _insert_attempt(conn: sqlite3.Connection, endpoint_id: int, batch_id: str, outcome: Outcome, test: bool) -> None:
    request = outcome.request
    response_headers, cut = headers_json(outcome.response_headers, HEADERS_CAP) if outcome.status_code else (None, None)
    conn.execute(
        "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code, error, "
        "response_excerpt, test, body_format, signature_scheme, request_line, request_headers, body_sha256, "
        "response_headers, response_headers_cut) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            endpoint_id,
            batch_id,
            outcome.started_at,
            outcome.duration_ms,
            int(outcome.ok),
            outcome.status_code,
            outcome.error,
            outcome.response_excerpt,
            int(test),
            outcome.body_format,
            outcome.signature_scheme,
            request and request.line,
            request and headers_json(request.headers)[0],
            request and request.body_sha256,
            response_headers,
            cut,
        ),
    )


def _disabling(outcome: Outcome, failures: int, disable_after: int, error: str) -> str | None:
    """Why this failure disables the endpoint, or None if it does not."""
    if outcome.status_code == 410:
        return "HTTP 410 Gone: the receiver says this endpoint no longer exists"
    if disable_after and failures >= disable_after:
        return f"{failures} consecutive failed requests, the last: {error}"
    return None


Claim = tuple[Endpoint, Settings, Batch]


# lease_seconds() of the endpoint's own timeout, or the global one, from :now_s.
_LEASE_EXPIRY = (
    "strftime('%Y-%m-%dT%H:%M:%fZ', "
    f":now_s + 2 * coalesce(timeout_ms / 1000.0, :timeout) + {LEASE_MARGIN_S}, 'unixepoch')"
)


def _lease_params(lease_id: str, endpoint_id: int, now: datetime, defaults: Settings) -> dict[str, object]:
    return {
        "lease": lease_id,
        "id": endpoint_id,
        "now": to_text(now),
        "now_s": now.timestamp(),
        "timeout": defaults.timeout,
    }


def _claim(
    conn: sqlite3.Connection, endpoint_id: int, lease_id: str, now: datetime, defaults: Settings
) -> Claim | None:
    now_text = to_text(now)
    cursor = conn.execute(
        f"UPDATE endpoints SET lease_id = :lease, lease_expires_at = {_LEASE_EXPIRY} "
        "WHERE id = :id AND enabled = 1 AND (lease_id = :lease "
        "OR lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING *",
        _lease_params(lease_id, endpoint_id, now, defaults),
    )
    rows = dicts(cursor)
    if not rows:
        return None
    endpoint = endpoint_from_row(rows[0])
    settings = effective(endpoint, defaults)
    batch: Batch | None
    waiting = _open_batch(conn, endpoint_id)
    if waiting is None:
        batch = _new_batch(conn, endpoint_id, settings, now)
    else:
        open_batch, due_at = waiting
        # A retry that is not due yet holds back everything behind it.
        batch = _fitted(conn, open_batch, settings.batch_size) if due_at <= now_text else None
    if batch is None:
        _release(conn, endpoint_id)
        return None
    return endpoint, settings, batch


def _deliver_and_claim(
    conn: sqlite3.Connection, batch: Batch, lease_id: str, outcome: Outcome, now: datetime, defaults: Settings
) -> tuple[Recorded, Claim | None] | None:
    """The step after a success, in as few statements as it takes: mark the endpoint healthy and
    renew its lease in one, then the next batch. None when the lease is lost or the endpoint was
    disabled meanwhile (then the general path records the outcome)."""
    rows = dicts(
        conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = :now, "
            f"lease_expires_at = {_LEASE_EXPIRY} WHERE id = :id AND lease_id = :lease AND enabled = 1 RETURNING *",
            _lease_params(lease_id, batch.endpoint_id, now, defaults),
        )
    )
    if not rows:
        return None
    _insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    _finish_delivered(conn, batch, outcome, to_text(now))
    endpoint = endpoint_from_row(rows[0])
    settings = effective(endpoint, defaults)
    # The batch just delivered was the endpoint's one open batch, so the next is a new one.
    following = _new_batch(conn, batch.endpoint_id, settings, now)
    if following is None:
        _release(conn, batch.endpoint_id)
        return Recorded("delivered", 0), None
    return Recorded("delivered", 0), (endpoint, settings, following)


def _finish_delivered(conn: sqlite3.Connection, batch: Batch, outcome: Outcome, now_text: str) -> None:
    conn.execute(
        "UPDATE batches SET state = 'delivered', attempts = attempts + 1, finished_at = ?, "
        "first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?",
        (now_text, outcome.started_at, batch.id),
    )


def _release(conn: sqlite3.Connection, endpoint_id: int) -> None:
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


def _new_batch(conn: sqlite3.Connection, endpoint_id: int, settings: Settings, now: datetime) -> Batch | None:
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


def time_ordered_id(now: datetime) -> str:
    """A UUID version 7: milliseconds first, so new batches append to the end of the key's index
    instead of landing on a random page, then 74 random bits."""
    random_bits = secrets.randbits(74)
    value = (
        (int(now.timestamp() * 1000) << 80)
        | (0x7 << 76)
        | ((random_bits >> 62) << 64)
        | (0b10 << 62)
        | (random_bits & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def _record(
    conn: sqlite3.Connection,
    batch: Batch,
    lease_id: str,
    outcome: Outcome,
    next_due: datetime | None,
    now: datetime,
    disable_after: int,
) -> Recorded | None:
    now_text = to_text(now)
    held = conn.execute(
        "SELECT consecutive_failures FROM endpoints WHERE id = ? AND lease_id = ?",
        (batch.endpoint_id, lease_id),
    ).fetchone()
    if held is None:
        return None
    _insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    if outcome.ok:
        _finish_delivered(conn, batch, outcome, now_text)
        conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = ? WHERE id = ?",
            (now_text, batch.endpoint_id),
        )
        return Recorded("delivered", 0)
    state = "pending" if next_due is not None else "dead"
    error = outcome.error or f"HTTP {outcome.status_code}"
    failures = held[0] + 1
    disabled_reason = _disabling(outcome, failures, disable_after, error)
    conn.execute(
        "UPDATE batches SET state = ?, attempts = attempts + 1, due_at = ?, last_error = ?, "
        "finished_at = ?, first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?",
        (
            state,
            to_text(next_due) if next_due else now_text,
            error,
            None if next_due else now_text,
            outcome.started_at,
            batch.id,
        ),
    )
    conn.execute(
        "UPDATE endpoints SET consecutive_failures = ?, last_error = ?, last_error_at = ?, lease_id = NULL, "
        "lease_expires_at = NULL, enabled = enabled AND ? IS NULL, "
        "disabled_reason = coalesce(?, disabled_reason), disabled_at = coalesce(?, disabled_at) "
        "WHERE id = ?",
        (
            failures,
            error,
            now_text,
            disabled_reason,
            disabled_reason,
            now_text if disabled_reason else None,
            batch.endpoint_id,
        ),
    )
    return Recorded(state, failures, disabled_reason)
