"""Statements of the HTTP API's events: queueing them once per idempotency key, and one event's story."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import tuple_row

from ...access_models import IdempotencyKey, StoredAnswer
from ...errors import Conflict, NotFound
from ...models import EventView
from ..shaping import event_view
from .connection import Connection, PgConnection


class Events(Connection):
    def insert_events_once(
        self,
        rows: Sequence[tuple[str, str]],
        created_at: datetime,
        answer: Callable[[list[int]], StoredAnswer],
        once: IdempotencyKey | None = None,
        kept_since: datetime | None = None,
    ) -> tuple[StoredAnswer, bool]:
        """A transaction lock on the key makes a repeat arriving meanwhile wait until the first's transaction ends."""
        with self.write() as conn:
            if once is not None:
                kept = _kept_answer(conn, self.schema, once, kept_since)
                if kept is not None:
                    return kept, True
            ids = _insert_events(conn, rows, created_at)
            made = answer(ids)
            if once is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys (api_key_id, key, request_sha256, status, response, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (once.api_key_id, once.key, once.request_sha256, made.status, made.body, created_at),
                )
            return made, False

    def event_view(self, event_id: int) -> EventView:
        tuples = self.conn.cursor(row_factory=tuple_row)
        row = tuples.execute("SELECT id, type, payload, created_at FROM events WHERE id = %s", (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"no event {event_id}")
        # Both tables are keyed (endpoint, event): one primary-key probe per endpoint.
        places = tuples.execute(
            "SELECT n.id, 'pending', NULL FROM endpoints AS n "
            "JOIN pending AS p ON p.endpoint_id = n.id AND p.event_id = %(event)s "
            "UNION ALL "
            "SELECT n.id, b.state, b.id FROM endpoints AS n "
            "JOIN deliveries AS d ON d.endpoint_id = n.id AND d.event_id = %(event)s "
            "JOIN batches AS b ON b.id = d.batch_id "
            "ORDER BY 1",
            {"event": event_id},
        ).fetchall()
        return event_view(row, places, self._batch_attempts)

    def _batch_attempts(self, batch_id: str) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT a.id, a.endpoint_id, a.batch_id, b.event_ids, a.started_at, a.duration_ms, "
            "a.status_code, a.error, a.response_excerpt, a.test, a.ok "
            "FROM attempts AS a JOIN batches AS b ON b.id = a.batch_id WHERE a.batch_id = %s ORDER BY a.id",
            (batch_id,),
        ).fetchall()


def _kept_answer(
    conn: PgConnection, schema: str, once: IdempotencyKey, kept_since: datetime | None
) -> StoredAnswer | None:
    """The answer kept under ``once``'s key, once any transaction answering under it has committed.

    The advisory lock is the transaction's: a repeat waits here until the first request's
    transaction ends, then reads the answer it kept."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"dispatcher idempotency {schema} {once.api_key_id} {once.key}",),
    )
    if kept_since is not None:
        # Rows another request is deleting already are skipped, not waited for (nor deadlocked on).
        conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid IN "
            "(SELECT ctid FROM idempotency_keys WHERE created_at < %s FOR UPDATE SKIP LOCKED)",
            (kept_since,),
        )
    kept = conn.execute(
        "SELECT request_sha256, status, response FROM idempotency_keys "
        "WHERE api_key_id = %s AND key = %s AND created_at >= coalesce(%s, '-infinity'::timestamptz)",
        (once.api_key_id, once.key, kept_since),
    ).fetchone()
    if kept is None:
        return None
    if kept["request_sha256"] != once.request_sha256:
        raise Conflict(
            "this Idempotency-Key was used for a different request in the last 24 hours: "
            "use a new key for a new request"
        )
    return StoredAnswer(kept["status"], kept["response"])


def _insert_events(conn: PgConnection, rows: Sequence[tuple[str, str]], created_at: datetime) -> list[int]:
    """Insert the events in one statement (one fan-out, one notification); their ids in the rows' order.

    The rows go in in their order, and the identity numbers them as they go: sorted, the ids
    RETURNING gives are the rows' (whose order it does not promise)."""
    inserted = conn.execute(
        "INSERT INTO events (type, payload, created_at) "
        "SELECT type, payload, %s FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r (type, payload, n) "
        "ORDER BY n RETURNING id",
        (created_at, [type_ for type_, _ in rows], [payload for _, payload in rows]),
    ).fetchall()
    return sorted(int(row["id"]) for row in inserted)
