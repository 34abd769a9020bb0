"""The process loop's statements: find due endpoints, claim batches under a lease, record outcomes.

A worker only changes an endpoint's batches while it holds the endpoint's
lease, and every outcome is written only if the lease is still its own."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timedelta

from ..clock import to_text
from ..models import Batch, Endpoint, Outcome, Recorded, Settings
from ..settings import effective
from .connection import Connection
from .rows import dicts, endpoint_from_row, events_in_order

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
        now if it has unbatched deliveries. Endpoints leased by a live run are
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
                           (SELECT :now FROM deliveries AS d
                            WHERE d.endpoint_id = e.id AND d.batch_id IS NULL LIMIT 1)
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

    def claim_batch(
        self, endpoint_id: int, lease_id: str, now: datetime, defaults: Settings
    ) -> tuple[Endpoint, Settings, Batch] | None:
        """Lease the endpoint (or renew our lease) and hand out its next due batch.

        The open batch comes first; if there is none, up to ``batch_size``
        unbatched deliveries become a new one. Returns None, with the lease
        released, when the endpoint is disabled, leased by someone else, or has
        nothing due.
        """
        now_text = to_text(now)
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE endpoints SET lease_id = :lease "
                "WHERE id = :id AND enabled = 1 AND (lease_id = :lease "
                "OR lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING *",
                {"lease": lease_id, "id": endpoint_id, "now": now_text},
            )
            rows = dicts(cursor)
            if not rows:
                return None
            endpoint = endpoint_from_row(rows[0])
            settings = effective(endpoint, defaults)
            batch: Batch | None
            waiting = self._open_batch(endpoint_id)
            if waiting is None:
                batch = self._new_batch(endpoint_id, settings, now_text)
            else:
                open_batch, due_at = waiting
                # A retry that is not due yet holds back everything behind it.
                batch = open_batch if due_at <= now_text else None
            if batch is None:
                conn.execute(
                    "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ?",
                    (endpoint_id,),
                )
                return None
            lease_until = now + timedelta(seconds=lease_seconds(settings.timeout))
            conn.execute(
                "UPDATE endpoints SET lease_expires_at = ? WHERE id = ?",
                (to_text(lease_until), endpoint_id),
            )
            return endpoint, settings, batch

    def _open_batch(self, endpoint_id: int) -> tuple[Batch, str] | None:
        """The endpoint's one pending batch, with its due time."""
        row = self.conn.execute(
            "SELECT id, event_ids, attempts, due_at, first_attempt_at FROM batches "
            "WHERE endpoint_id = ? AND state = 'pending'",
            (endpoint_id,),
        ).fetchone()
        if row is None:
            return None
        batch_id, event_ids, attempts, due_at, first_attempt_at = row
        events = tuple(events_in_order(self.conn, event_ids))
        return Batch(batch_id, endpoint_id, events, attempts, first_attempt_at), due_at

    def _new_batch(self, endpoint_id: int, settings: Settings, now_text: str) -> Batch | None:
        """Put the next ``batch_size`` unbatched deliveries, in the endpoint's order, into a new batch."""
        direction = "DESC" if settings.order == "desc" else "ASC"
        event_ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT event_id FROM deliveries WHERE endpoint_id = ? AND batch_id IS NULL "
                f"ORDER BY event_id {direction} LIMIT ?",
                (endpoint_id, settings.batch_size),
            )
        ]
        if not event_ids:
            return None
        batch_id = str(uuid.uuid4())
        ids_json = json.dumps(event_ids)
        self.conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at) VALUES (?, ?, ?, ?, ?)",
            (batch_id, endpoint_id, ids_json, now_text, now_text),
        )
        self.conn.execute(
            "UPDATE deliveries SET batch_id = ? WHERE endpoint_id = ? AND event_id IN (SELECT value FROM json_each(?))",
            (batch_id, endpoint_id, ids_json),
        )
        events = tuple(events_in_order(self.conn, ids_json))
        return Batch(batch_id, endpoint_id, events, 0)

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
        now_text = to_text(now)
        with self.write() as conn:
            held = conn.execute(
                "SELECT consecutive_failures FROM endpoints WHERE id = ? AND lease_id = ?",
                (batch.endpoint_id, lease_id),
            ).fetchone()
            if held is None:
                return None
            _insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
            if outcome.ok:
                conn.execute(
                    "UPDATE batches SET state = 'delivered', attempts = attempts + 1, finished_at = ?, "
                    "first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?",
                    (now_text, outcome.started_at, batch.id),
                )
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
                "UPDATE endpoints SET consecutive_failures = ?, last_error = ?, lease_id = NULL, "
                "lease_expires_at = NULL, enabled = enabled AND ? IS NULL, "
                "disabled_reason = coalesce(?, disabled_reason), disabled_at = coalesce(?, disabled_at) "
                "WHERE id = ?",
                (
                    failures,
                    error,
                    disabled_reason,
                    disabled_reason,
                    now_text if disabled_reason else None,
                    batch.endpoint_id,
                ),
            )
        return Recorded(state, failures, disabled_reason)

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        """Log an `endpoint test` request; no batch, counter or health field changes."""
        with self.write() as conn:
            _insert_attempt(conn, endpoint_id, delivery_id, outcome, test=True)

    def release_lease(self, endpoint_id: int, lease_id: str) -> None:
        self.db.execute(
            "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
            (endpoint_id, lease_id),
        )


def _insert_attempt(conn: sqlite3.Connection, endpoint_id: int, batch_id: str, outcome: Outcome, test: bool) -> None:
    conn.execute(
        "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, "
        "status_code, error, response_excerpt, test) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )


def _disabling(outcome: Outcome, failures: int, disable_after: int, error: str) -> str | None:
    """Why this failure disables the endpoint, or None if it does not."""
    if outcome.status_code == 410:
        return "HTTP 410 Gone: the receiver says this endpoint no longer exists"
    if disable_after and failures >= disable_after:
        return f"{failures} consecutive failed requests, the last: {error}"
    return None
