"""The delivery loop's statements: due endpoints, claims under leases with FOR UPDATE SKIP LOCKED, outcomes.

Each claim and each record is one short transaction that commits before the request goes out
or after it came back: no transaction stays open across an HTTP request, and several hosts
drain one queue with the database as their only coordinator."""

from __future__ import annotations

from datetime import datetime

from ...models import Batch, DeliverySettings, Outcome, Recorded
from ..claiming import claim
from ..shaping import due_endpoints
from ..types import Claim, Due
from .claiming import PostgresClaims, release
from .connection import Connection
from .recording import insert_attempt, record


class Delivering(Connection):
    def due_endpoints(self, now: datetime, defaults: DeliverySettings) -> list[Due]:
        rows = self.conn.execute(
            """
            SELECT e.id, e.concurrency, e.rate_limit, e.last_start_at, e.consecutive_failures,
                   (SELECT count(*) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending' AND b.lease_expires_at > %(now)s) AS leased,
                   (SELECT min(b.due_at) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending'
                      AND NOT coalesce(b.lease_expires_at > %(now)s, false)) AS waiting_due_at,
                   EXISTS (SELECT 1 FROM pending AS p WHERE p.endpoint_id = e.id) AS unbatched
            FROM endpoints AS e WHERE e.enabled
            """,
            {"now": now},
        ).fetchall()
        return due_endpoints(rows, now, defaults)

    def claim_batch(self, endpoint_id: int, lease_id: str, now: datetime, defaults: DeliverySettings) -> Claim | None:
        """None too while another host is claiming the endpoint at this instant."""
        with self.write() as conn:
            return claim(PostgresClaims(conn), endpoint_id, lease_id, now, defaults)

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
            recorded = record(conn, batch, lease_id, outcome, next_due, now, disable_after)
        return recorded and recorded[0]

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
        """The endpoint's row stays locked throughout."""
        with self.write() as conn:
            recorded = record(conn, batch, lease_id, outcome, next_due, now, disable_after)
            if recorded is None:
                return None, None
            result, row = recorded
            if row is None:
                return result, None
            return result, claim(PostgresClaims(conn), batch.endpoint_id, lease_id, now, defaults, row)

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        with self.write() as conn:
            insert_attempt(conn, endpoint_id, delivery_id, outcome, test=True)

    def release_batch(self, batch_id: str, lease_id: str) -> None:
        with self.write() as conn:
            release(conn, batch_id, lease_id)
