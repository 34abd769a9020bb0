"""Recording a request's outcome: the attempt, the batch's new state, the endpoint's health.

Only the lease holder writes: every change to the batch names the lease, so a host whose lease
ran out (and whose batch another host has claimed since) writes nothing. The endpoint's row is
locked first, as a claim locks it (see .claiming), and waited for: the holder's outcome must land.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...delivery_rules import disabling_reason, failure_text
from ...models import Batch, Outcome, Recorded
from ..rows import HEADERS_CAP, headers_json
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
    state = "pending" if next_due is not None else "dead"
    error = failure_text(outcome)
    changed = conn.execute(
        "UPDATE batches SET state = %(state)s, attempts = attempts + 1, due_at = %(due)s, last_error = %(error)s, "
        "finished_at = %(finished)s, first_attempt_at = coalesce(first_attempt_at, %(started)s), "
        f"lease_id = NULL, lease_expires_at = NULL WHERE {_HELD}",
        {
            "state": state,
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
    failures = held["consecutive_failures"] + 1
    disabled_reason = disabling_reason(outcome, failures, disable_after)
    conn.execute(
        "UPDATE endpoints SET consecutive_failures = %(failures)s, last_error = %(error)s, last_error_at = %(now)s, "
        "enabled = enabled AND %(reason)s::text IS NULL, disabled_reason = coalesce(%(reason)s, disabled_reason), "
        "disabled_at = coalesce(%(disabled_at)s, disabled_at) WHERE id = %(endpoint)s",
        {
            "failures": failures,
            "error": error,
            "now": now,
            "reason": disabled_reason,
            "disabled_at": now if disabled_reason else None,
            "endpoint": batch.endpoint_id,
        },
    )
    return Recorded(state, failures, disabled_reason), None


def insert_attempt(conn: PgConnection, endpoint_id: int, batch_id: str, outcome: Outcome, test: bool) -> None:
    request = outcome.request
    response_headers, cut = headers_json(outcome.response_headers, HEADERS_CAP) if outcome.status_code else (None, None)
    conn.execute(
        "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code, error, "
        "response_excerpt, test, body_format, signature_scheme, request_line, request_headers, body_sha256, "
        "response_headers, response_headers_cut) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            endpoint_id,
            batch_id,
            outcome.started_at,
            outcome.duration_ms,
            outcome.ok,
            outcome.status_code,
            outcome.error,
            outcome.response_excerpt,
            test,
            outcome.body_format,
            outcome.signature_scheme,
            request and request.line,
            request and headers_json(request.headers)[0],
            request and request.body_sha256,
            response_headers,
            cut,
        ),
    )
