"""Read-only views for people: per-endpoint status, the attempt log and one attempt in full."""

from __future__ import annotations

from datetime import datetime

from ...clock import check_window, to_text
from ...errors import NotFound
from ...models import Attempt, AttemptRecord, EndpointStatus
from ..filtering import conditions, status_filter
from ..rows import attempt_from_row, time_text
from ..shaping import attempt_record, endpoint_status
from .connection import Connection
from .rows import events_in_order


class Inspecting(Connection):
    def status(self, now: datetime) -> list[EndpointStatus]:
        now_text = to_text(now)
        rows = self.db.query(
            """
            SELECT e.id, e.name, e.url, e.enabled, e.consecutive_failures, e.last_success_at,
                   e.last_error, e.last_error_at,
                   (SELECT count(*) FROM pending AS p WHERE p.endpoint_id = e.id) AS unbatched,
                   (SELECT coalesce(sum(json_array_length(b.event_ids)), 0) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending') AS open_batches,
                   (SELECT coalesce(sum(json_array_length(b.event_ids)), 0) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending' AND b.lease_expires_at > :now) AS in_flight,
                   (SELECT min(b.due_at) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending') AS open_batch_due_at,
                   (SELECT count(*) FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id
                    WHERE d.endpoint_id = e.id AND b.state = 'delivered') AS delivered,
                   (SELECT count(*) FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id
                    WHERE d.endpoint_id = e.id AND b.state = 'dead') AS dead,
                   (SELECT created_at FROM events WHERE id = (
                        SELECT min(oldest) FROM (
                            SELECT min(p.event_id) AS oldest FROM pending AS p WHERE p.endpoint_id = e.id
                            UNION ALL
                            SELECT min(ids.value) FROM batches AS b, json_each(b.event_ids) AS ids
                            WHERE b.endpoint_id = e.id AND b.state = 'pending'
                        ))) AS oldest_pending_at
            FROM endpoints AS e ORDER BY e.id
            """,
            {"now": now_text},
        )
        return [endpoint_status(row, now) for row in rows]

    def attempts_page(
        self,
        endpoint_id: int | None = None,
        status: int | str | None = None,
        event_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Attempt]:
        check_window(since, until)
        self.require_endpoint(endpoint_id)
        ok, code = status_filter(status)
        where, params = conditions(
            ("1 = 1",),
            (
                ("a.endpoint_id = :endpoint", "endpoint", endpoint_id),
                ("a.ok = :ok", "ok", ok),
                ("a.status_code = :status", "status", code),
                ("EXISTS (SELECT 1 FROM json_each(b.event_ids) AS ids WHERE ids.value = :event)", "event", event_id),
                ("a.started_at >= :since", "since", time_text(since)),
                ("a.started_at < :until", "until", time_text(until)),
                ("a.id < :before", "before", before),
            ),
        )
        rows = self.db.query(
            f"""
            SELECT a.id, a.endpoint_id, a.batch_id, b.event_ids, a.started_at, a.duration_ms,
                   a.status_code, a.error, a.response_excerpt, a.test, a.ok
            FROM attempts AS a LEFT JOIN batches AS b ON b.id = a.batch_id
            WHERE {where}
            ORDER BY a.id DESC LIMIT :limit
            """,
            {**params, "limit": limit},
        )
        return [attempt_from_row(row) for row in rows]

    def attempt_record(self, attempt_id: int) -> AttemptRecord:
        rows = list(
            self.db.query(
                """
                SELECT a.*, b.event_ids, e.body_format AS endpoint_format, e.signature_scheme AS endpoint_scheme
                FROM attempts AS a JOIN endpoints AS e ON e.id = a.endpoint_id
                LEFT JOIN batches AS b ON b.id = a.batch_id
                WHERE a.id = ?
                """,
                (attempt_id,),
            )
        )
        if not rows:
            raise NotFound(f"no attempt {attempt_id}")
        row = rows[0]
        return attempt_record(row, events_in_order(self.conn, row["event_ids"] or "[]"))
