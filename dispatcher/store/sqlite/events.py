"""Statements of the HTTP API's events: queueing them once per idempotency key, and one event's story."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ...access_models import IdempotencyKey, StoredAnswer
from ...clock import to_text
from ...errors import Conflict, NotFound
from ...models import EventView
from ..shaping import event_view
from .connection import Connection


class Events(Connection):
    def insert_events_once(
        self,
        rows: Sequence[tuple[str, str]],
        created_at: datetime,
        answer: Callable[[list[int]], StoredAnswer],
        once: IdempotencyKey | None = None,
        kept_since: datetime | None = None,
    ) -> tuple[StoredAnswer, bool]:
        created_text = to_text(created_at)
        with self.write() as conn:
            if once is not None:
                if kept_since is not None:
                    conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (to_text(kept_since),))
                kept = conn.execute(
                    "SELECT request_sha256, status, response FROM idempotency_keys WHERE api_key_id = ? AND key = ?",
                    (once.api_key_id, once.key),
                ).fetchone()
                if kept is not None:
                    if kept[0] != once.request_sha256:
                        raise Conflict(
                            "this Idempotency-Key was used for a different request in the last 24 hours: "
                            "use a new key for a new request"
                        )
                    return StoredAnswer(kept[1], kept[2]), True
            ids = [
                int(
                    conn.execute(
                        "INSERT INTO events (type, payload, created_at) VALUES (?, ?, ?) RETURNING id",
                        (type_, payload, created_text),
                    ).fetchone()[0]
                )
                for type_, payload in rows
            ]
            made = answer(ids)
            if once is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys (api_key_id, key, request_sha256, status, response, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (once.api_key_id, once.key, once.request_sha256, made.status, made.body, created_text),
                )
            return made, False

    def event_view(self, event_id: int) -> EventView:
        row = self.conn.execute("SELECT id, type, payload, created_at FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"no event {event_id}")
        # Both tables are keyed (endpoint, event): one primary-key probe per endpoint.
        places = self.conn.execute(
            "SELECT n.id, 'pending', NULL FROM endpoints AS n CROSS JOIN pending AS p "
            "ON p.endpoint_id = n.id AND p.event_id = :event "
            "UNION ALL "
            "SELECT n.id, b.state, b.id FROM endpoints AS n CROSS JOIN deliveries AS d "
            "ON d.endpoint_id = n.id AND d.event_id = :event JOIN batches AS b ON b.id = d.batch_id "
            "ORDER BY 1",
            {"event": event_id},
        ).fetchall()
        return event_view(row, places, self._batch_attempts)

    def _batch_attempts(self, batch_id: str) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT a.id, a.endpoint_id, a.batch_id, b.event_ids, a.started_at, a.duration_ms, "
                "a.status_code, a.error, a.response_excerpt, a.test, a.ok "
                "FROM attempts AS a JOIN batches AS b ON b.id = a.batch_id WHERE a.batch_id = ? ORDER BY a.id",
                (batch_id,),
            )
        )
