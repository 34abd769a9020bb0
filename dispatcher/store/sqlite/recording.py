"""Recording a request's outcome: the attempt, the batch's new state, the endpoint's health."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ...clock import to_text
from ...delivery_rules import after_failure, failure_text
from ...models import Batch, Outcome, Recorded
from ..shaping import attempt_values


def record(
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
        "SELECT e.consecutive_failures FROM batches AS b JOIN endpoints AS e ON e.id = b.endpoint_id "
        "WHERE b.id = ? AND b.lease_id = ? AND b.state = 'pending'",
        (batch.id, lease_id),
    ).fetchone()
    if held is None:
        return None
    insert_attempt(conn, batch.endpoint_id, batch.id, outcome, test=False)
    if outcome.ok:
        finish_delivered(conn, batch, outcome, now_text, lease_id)
        conn.execute(
            "UPDATE endpoints SET consecutive_failures = 0, last_success_at = ? WHERE id = ?",
            (now_text, batch.endpoint_id),
        )
        return Recorded("delivered", 0)
    recorded = after_failure(outcome, next_due, held[0], disable_after)
    error = failure_text(outcome)
    conn.execute(
        "UPDATE batches SET state = ?, attempts = attempts + 1, due_at = ?, last_error = ?, finished_at = ?, "
        "first_attempt_at = coalesce(first_attempt_at, ?), lease_id = NULL, lease_expires_at = NULL WHERE id = ?",
        (
            recorded.state,
            to_text(next_due) if next_due else now_text,
            error,
            None if next_due else now_text,
            to_text(outcome.started_at),
            batch.id,
        ),
    )
    conn.execute(
        "UPDATE endpoints SET consecutive_failures = ?, last_error = ?, last_error_at = ?, "
        "enabled = enabled AND ? IS NULL, "
        "disabled_reason = coalesce(?, disabled_reason), disabled_at = coalesce(?, disabled_at) "
        "WHERE id = ?",
        (
            recorded.consecutive_failures,
            error,
            now_text,
            recorded.disabled_reason,
            recorded.disabled_reason,
            now_text if recorded.disabled_reason else None,
            batch.endpoint_id,
        ),
    )
    return recorded


def insert_attempt(conn: sqlite3.Connection, endpoint_id: int, batch_id: str, outcome: Outcome, test: bool) -> None:
    conn.execute(
        "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code, error, "
        "response_excerpt, test, body_format, signature_scheme, request_line, request_headers, body_sha256, "
        "response_headers, response_headers_cut) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        attempt_values(endpoint_id, batch_id, outcome, test, to_text),
    )


def finish_delivered(conn: sqlite3.Connection, batch: Batch, outcome: Outcome, now_text: str, lease_id: str) -> bool:
    """Mark the batch delivered, if its lease is still ``lease_id``'s; whether it was."""
    cursor = conn.execute(
        "UPDATE batches SET state = 'delivered', attempts = attempts + 1, finished_at = ?, "
        "first_attempt_at = coalesce(first_attempt_at, ?), lease_id = NULL, lease_expires_at = NULL "
        "WHERE id = ? AND lease_id = ? AND state = 'pending'",
        (now_text, to_text(outcome.started_at), batch.id, lease_id),
    )
    return cursor.rowcount == 1
