"""Recording a request's outcome: the attempt, the batch's new state, the endpoint's health.

Only the lease holder writes: every change to the batch names the lease, so a host whose lease
ran out (and whose batch another host has claimed since) writes nothing. The endpoint's row is
locked first, as a claim locks it (see .claiming), and waited for: the holder's outcome must land.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...delivery_rules import after_failure, failure_text
from ...models import Batch, Outcome, Recorded
from ..shaping import attempt_values
from .connection import PgConnection

# Only a batch still pending under the caller's lease is the caller's to change.
_HELD = "id = %(batch)s AND lease_id = %(lease)s AND state = 'pending'"


def record(
    conn: PgConnection,
    batch: Batch,
    lease_id: str,
    outcome: Outcome,
    next_due: datetime | None,
    now: datetime,
    disable_after: int,
) -> tuple[Recorded, dict[str, Any] | None] | None:
    """Write the outcome if the lease is still ``lease_id``'s; None (nothing written) if it was lost.
    With the result, after a success, the endpoint's row as it now is, still locked: the next
    claim of the same transaction starts from it."""
    held = conn.execute(
        "SELECT consecutive_failures FROM endpoints WHERE id = %s FOR NO KEY UPDATE", (batch.endpoint_id,)
    ).fetchone()
    if held is None:
        return None
    if outcome.ok:
        changed = conn.execute(
            "UPDATE batches SET state = 'delivered', attempts = attempts + 1, finished_at = %(now)s, "
            "first_attempt_at = coalesce(first_attempt_at, %(started)s), lease_id = NULL, lease_expires_at = NULL "
            f"WHERE {_HELD}",
            {"now": now, "started": outcome.started_at, "batch": batch.id, "lease": lease_id},
        )
        if changed.rowcount != 1:
            return None
        insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
        row = conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = %s WHERE id = %s RETURNING *",
            (now, batch.endpoint_id),
        ).fetchone()
        return Recorded("delivered", 0), row
    recorded = after_failure(outcome, next_due, held["consecutive_failures"], disable_after)
    error = failure_text(outcome)
    changed = conn.execute(
        "UPDATE batches SET state = %(state)s, attempts = attempts + 1, due_at = %(due)s, last_error = %(error)s, "
        "finished_at = %(finished)s, first_attempt_at = coalesce(first_attempt_at, %(started)s), "
        f"lease_id = NULL, lease_expires_at = NULL WHERE {_HELD}",
        {
            "state": recorded.state,
            "due": next_due or now,
            "error": error,
            "finished": None if next_due else now,
            "started": outcome.started_at,
            "batch": batch.id,
            "lease": lease_id,
        },
    )
    if changed.rowcount != 1:
        return None
    insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    conn.execute(
        "UPDATE endpoints SET consecutive_failures = %(failures)s, last_error = %(error)s, last_error_at = %(now)s, "
        "enabled = enabled AND %(reason)s::text IS NULL, disabled_reason = coalesce(%(reason)s, disabled_reason), "
        "disabled_at = coalesce(%(disabled_at)s, disabled_at) WHERE id = %(endpoint)s",
        {
            "failures": recorded.consecutive_failures,
            "error": error,
            "now": now,
            "reason": recorded.disabled_reason,
            "disabled_at": now if recorded.disabled_reason else None,
            "endpoint": batch.endpoint_id,
        },
    )
    return recorded, None


def insert_attempt(conn: PgConnection, endpoint_id: int, batch_id: str, outcome: Outcome, test: bool) -> None:
    conn.execute(
        "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code, error, "
        "response_excerpt, test, body_format, signature_scheme, request_line, request_headers, body_sha256, "
        "response_headers, response_headers_cut) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        attempt_values(endpoint_id, batch_id, outcome, test),
    )
