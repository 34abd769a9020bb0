"""Statements that count: the dashboard's recent figures and what /metrics reports.

All of them read what the database keeps, so any process's deliveries (cron's, a server's)
are counted, and pruning takes old ones out of the counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg.rows import tuple_row

from ...figures import AttemptCount, DeliveryCount, DurationHistogram, RecentFigures
from ..shaping import duration_histogram
from .connection import Connection

# An HTTP status code's class as text, or 'none' when no answer came.
_CLASS = "CASE WHEN {code} IS NULL THEN 'none' ELSE ({code} / 100)::text || 'xx' END"


class Measuring(Connection):
    def recent_figures(self, since: datetime) -> list[RecentFigures]:
        rows = self.conn.cursor(row_factory=tuple_row).execute(
            """
            SELECT e.id, e.disabled_reason,
                   (SELECT coalesce(sum(json_array_length(b.event_ids::json)), 0) FROM batches AS b
                    WHERE b.state = 'delivered' AND b.finished_at >= %(since)s AND b.endpoint_id = e.id),
                   (SELECT count(*) FROM attempts AS a
                    WHERE a.endpoint_id = e.id AND NOT a.ok AND NOT a.test AND a.started_at >= %(since)s)
            FROM endpoints AS e ORDER BY e.id
            """,
            {"since": since},
        )
        return [RecentFigures(*row) for row in rows]

    def delivery_counts(self) -> list[DeliveryCount]:
        rows = self.conn.cursor(row_factory=tuple_row).execute(
            f"""
            SELECT b.state, {_CLASS.format(code="last.status_code")}, sum(json_array_length(b.event_ids::json))
            FROM batches AS b
            LEFT JOIN attempts AS last ON last.id = (SELECT max(a.id) FROM attempts AS a WHERE a.batch_id = b.id)
            WHERE b.state IN ('delivered', 'dead')
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        )
        return [DeliveryCount(*row) for row in rows]

    def attempt_counts(self) -> list[AttemptCount]:
        rows = self.conn.cursor(row_factory=tuple_row).execute(
            f"""
            SELECT CASE WHEN ok THEN 'ok' ELSE 'failed' END, {_CLASS.format(code="status_code")}, count(*)
            FROM attempts WHERE NOT test GROUP BY 1, 2 ORDER BY 1, 2
            """
        )
        return [AttemptCount(*row) for row in rows]

    def request_durations(self, bounds_s: Sequence[float]) -> DurationHistogram:
        counts = "".join("count(*) FILTER (WHERE duration_ms <= %s), " for _ in bounds_s)
        (row,) = (
            self.conn.cursor(row_factory=tuple_row)
            .execute(
                f"SELECT {counts}count(*), coalesce(sum(duration_ms), 0) FROM attempts WHERE NOT test",
                [bound * 1000 for bound in bounds_s],
            )
            .fetchall()
        )
        return duration_histogram(bounds_s, row)
