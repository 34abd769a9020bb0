"""The process loop's statements: find due endpoints, claim batches under a lease, record outcomes.

A worker only changes an endpoint's batches while it holds the endpoint's
lease, and every outcome is written only if the lease is still its own."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..clock import to_text
from ..models import Batch, Outcome, Recorded, Settings
from ..settings import effective
from .claiming import LEASE_EXPIRY, Claim, claim, lease_params, new_batch, release
from .connection import Connection
from .recording import finish_delivered, insert_attempt, record
from .rows import dicts, endpoint_from_row


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
            return claim(conn, endpoint_id, lease_id, now, defaults)

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
            return record(conn, batch, lease_id, outcome, next_due, now, disable_after)

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
            recorded = record(conn, batch, lease_id, outcome, next_due, now, disable_after)
            if recorded is not None and recorded.state == "delivered":
                release(conn, batch.endpoint_id)  # disabled meanwhile: the lease is of no more use
            return recorded, None

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        """Log an `endpoint test` request; no batch, counter or health field changes."""
        with self.write() as conn:
            insert_attempt(conn, endpoint_id, delivery_id, outcome, test=True)

    def release_lease(self, endpoint_id: int, lease_id: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
                (endpoint_id, lease_id),
            )


def _deliver_and_claim(
    conn: sqlite3.Connection, batch: Batch, lease_id: str, outcome: Outcome, now: datetime, defaults: Settings
) -> tuple[Recorded, Claim | None] | None:
    """The step after a success, in as few statements as it takes: mark the endpoint healthy and
    renew its lease in one, then the next batch. None when the lease is lost or the endpoint was
    disabled meanwhile (then the general path records the outcome)."""
    rows = dicts(
        conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = :now, "
            f"lease_expires_at = {LEASE_EXPIRY} WHERE id = :id AND lease_id = :lease AND enabled = 1 RETURNING *",
            lease_params(lease_id, batch.endpoint_id, now, defaults),
        )
    )
    if not rows:
        return None
    insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    finish_delivered(conn, batch, outcome, to_text(now))
    endpoint = endpoint_from_row(rows[0])
    settings = effective(endpoint, defaults)
    # The batch just delivered was the endpoint's one open batch, so the next is a new one.
    following = new_batch(conn, batch.endpoint_id, settings, now)
    if following is None:
        release(conn, batch.endpoint_id)
        return Recorded("delivered", 0), None
    return Recorded("delivered", 0), (endpoint, settings, following)
