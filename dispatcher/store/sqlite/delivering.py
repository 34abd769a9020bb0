"""The process loop's statements: find due endpoints, claim batches under leases, record outcomes.

A worker only changes a batch while it holds the batch's lease, and every
outcome is written only if the lease is still its own."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ...clock import to_text
from ...models import Batch, DeliverySettings, Outcome, Recorded
from ..claiming import claim
from ..shaping import due_endpoints
from ..types import Claim, Due
from .claiming import SQLiteClaims, release
from .connection import Connection
from .recording import finish_delivered, insert_attempt, record
from .rows import dicts


class Delivering(Connection):
    def due_endpoints(self, now: datetime, defaults: DeliverySettings) -> list[Due]:
        now_text = to_text(now)
        rows = dicts(
            self.conn.execute(
                """
                SELECT e.id, e.concurrency, e.rate_limit, e.last_start_at, e.consecutive_failures,
                       (SELECT count(*) FROM batches AS b
                        WHERE b.endpoint_id = e.id AND b.state = 'pending' AND b.lease_expires_at > :now) AS leased,
                       (SELECT min(b.due_at) FROM batches AS b
                        WHERE b.endpoint_id = e.id AND b.state = 'pending'
                          AND coalesce(b.lease_expires_at > :now, 0) = 0) AS waiting_due_at,
                       EXISTS (SELECT 1 FROM pending AS p WHERE p.endpoint_id = e.id) AS unbatched
                FROM endpoints AS e WHERE e.enabled = 1
                """,
                {"now": now_text},
            )
        )
        return due_endpoints(rows, now, defaults)

    def claim_batch(self, endpoint_id: int, lease_id: str, now: datetime, defaults: DeliverySettings) -> Claim | None:
        with self.write() as conn:
            return claim(SQLiteClaims(conn), endpoint_id, lease_id, now, defaults)

    def record_outcome(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int = 0,
    ) -> Recorded | None:
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
        defaults: DeliverySettings,
    ) -> tuple[Recorded | None, Claim | None]:
        with self.write() as conn:
            if outcome.ok:
                stepped = _deliver_and_claim(conn, batch, lease_id, outcome, now, defaults)
                if stepped is not None:
                    return stepped
            return record(conn, batch, lease_id, outcome, next_due, now, disable_after), None

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        with self.write() as conn:
            insert_attempt(conn, endpoint_id, delivery_id, outcome, test=True)

    def release_batch(self, batch_id: str, lease_id: str) -> None:
        with self.write() as conn:
            release(conn, batch_id, lease_id)


def _deliver_and_claim(
    conn: sqlite3.Connection, batch: Batch, lease_id: str, outcome: Outcome, now: datetime, defaults: DeliverySettings
) -> tuple[Recorded, Claim | None] | None:
    """The step after a success, in as few statements as it takes. None when the lease is lost
    (then the general path says so)."""
    if not finish_delivered(conn, batch, outcome, to_text(now), lease_id):
        return None
    insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    rows = dicts(
        conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = ? WHERE id = ? RETURNING *",
            (to_text(now), batch.endpoint_id),
        )
    )
    return Recorded("delivered", 0), claim(SQLiteClaims(conn), batch.endpoint_id, lease_id, now, defaults, rows[0])
