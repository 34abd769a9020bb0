"""Statements for what failed or finished: the dead-letter list, replay, and pruning.

Replay and prune work in chunks of their own short transactions. Both lock the finished batches
of a chunk (FOR UPDATE, oldest first) before touching their deliveries, so that a replay and a
prune, or two replays, take turns on a batch instead of deadlocking; and a delivery is moved back
to the queue by deleting it, so of two replays racing for it only the one that deleted it queues it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import tuple_row

from ...models import DeadLetter, Pruned, Selection
from ..filtering import conditions
from ..protocol import CHUNK
from ..shaping import dead_letter
from .connection import Connection


class Recovering(Connection):
    def dead(self, endpoint_id: int | None = None) -> list[DeadLetter]:
        self.require_endpoint(endpoint_id)
        where, params = "b.state = 'dead' AND b.finished_at IS NOT NULL", {}
        if endpoint_id is not None:
            where += " AND b.endpoint_id = %(endpoint)s"
            params["endpoint"] = endpoint_id
        rows = self.conn.cursor(row_factory=tuple_row).execute(
            "SELECT d.endpoint_id, d.event_id, e.type, b.attempts, b.last_error, b.finished_at "
            f"FROM {_REPLAYABLE_FROM} WHERE {where} ORDER BY b.finished_at, d.endpoint_id, d.event_id",
            params,
        )
        return [dead_letter(row) for row in rows]

    def dead_page(
        self, selection: Selection, before: tuple[int, int] | None = None, limit: int = 50
    ) -> list[DeadLetter]:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(replace(selection, dead_only=True))
        if before is not None:
            where += " AND (d.event_id, d.endpoint_id) < (%(before_event)s, %(before_endpoint)s)"
            params.update(before_event=before[0], before_endpoint=before[1])
        rows = self.conn.cursor(row_factory=tuple_row).execute(
            "SELECT d.endpoint_id, d.event_id, e.type, b.attempts, b.last_error, b.finished_at "
            f"FROM {_REPLAYABLE_FROM} WHERE {where} "
            "ORDER BY d.event_id DESC, d.endpoint_id DESC LIMIT %(limit)s",
            {**params, "limit": limit},
        )
        return [dead_letter(row) for row in rows]

    def replay_dead(self, deliveries: Iterable[tuple[int, int]]) -> int:
        chosen = list(dict.fromkeys(deliveries))
        with self.write() as conn:
            moved = conn.execute(
                "WITH chosen AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS c (endpoint_id, event_id)), "
                "moved AS (DELETE FROM deliveries AS d USING chosen AS c, batches AS b "
                "WHERE d.endpoint_id = c.endpoint_id AND d.event_id = c.event_id "
                "AND b.id = d.batch_id AND b.state = 'dead' RETURNING d.endpoint_id, d.event_id) "
                "INSERT INTO pending (endpoint_id, event_id) SELECT endpoint_id, event_id FROM moved",
                ([endpoint for endpoint, _ in chosen], [event for _, event in chosen]),
            ).rowcount
        return moved

    def count_replayable(self, selection: Selection) -> int:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(selection)
        (row,) = (
            self.conn.cursor(row_factory=tuple_row)
            .execute(f"SELECT count(*) FROM {_REPLAYABLE_FROM} WHERE {where}", params)
            .fetchall()
        )
        return int(row[0])

    def replay(self, selection: Selection, progress: Callable[[int], None] = lambda done: None) -> int:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(selection)
        states = ("dead",) if selection.dead_only else ("delivered", "dead")
        reads = self.conn.cursor(row_factory=tuple_row)
        # Both bounds first: a delivery replayed by the first pass may die again before the second.
        bounds = [(state, reads.execute(_LAST_FINISHED, (state,)).fetchall()[0][0]) for state in states]
        total = 0
        for state, last_finished in bounds:
            after: tuple[datetime, str] = (_BEFORE_ALL, "")
            while last_finished is not None:
                with self.write() as conn:
                    cursor = conn.cursor(row_factory=tuple_row)
                    batches = cursor.execute(_NEXT_FINISHED, (state, last_finished, *after, CHUNK)).fetchall()
                    if not batches:
                        break
                    after = batches[-1]
                    moved = cursor.execute(
                        f"WITH moved AS (DELETE FROM deliveries AS d USING {_CHUNK_DELIVERIES} AND {where} "
                        "RETURNING d.endpoint_id, d.event_id) "
                        "INSERT INTO pending (endpoint_id, event_id) SELECT endpoint_id, event_id FROM moved",
                        {**params, "ids": [batch_id for _, batch_id in batches]},
                    ).rowcount
                total += moved
                progress(moved)
        return total

    def prune_batches(self, cutoff: datetime, states: tuple[str, ...]) -> Pruned:
        with self.write() as conn:
            cursor = conn.cursor(row_factory=tuple_row)
            rows = []
            for state in states:  # one index range per state
                rows += cursor.execute(
                    "SELECT id, event_ids FROM batches WHERE state = %s AND finished_at < %s "
                    "ORDER BY finished_at, id LIMIT %s FOR UPDATE",
                    (state, cutoff, CHUNK),
                ).fetchall()
            if not rows:
                return Pruned()
            ids = [batch_id for batch_id, _ in rows]
            pruned = Pruned(batches=len(rows))
            pruned.deliveries = cursor.execute(
                "DELETE FROM deliveries AS d USING batches AS b, "
                "json_array_elements_text(b.event_ids::json) AS member (id) "
                "WHERE b.id = ANY(%s) AND d.endpoint_id = b.endpoint_id AND d.event_id = member.id::bigint "
                "AND d.batch_id = b.id",
                (ids,),
            ).rowcount
            pruned.attempts = cursor.execute("DELETE FROM attempts WHERE batch_id = ANY(%s)", (ids,)).rowcount
            # The batches' events, read from the batches as they go.
            pruned.events = cursor.execute(
                "WITH gone AS (DELETE FROM batches WHERE id = ANY(%s) RETURNING event_ids), "
                "members AS (SELECT DISTINCT member.id::bigint AS id "
                "FROM gone, json_array_elements_text(gone.event_ids::json) AS member (id)) "
                f"DELETE FROM events WHERE id IN (SELECT id FROM members) AND {_UNNEEDED}",
                (ids,),
            ).rowcount
            return pruned

    def prune_unsubscribed_events(self, cutoff: datetime) -> tuple[Pruned, bool]:
        """An import's staged events are never deleted here: no endpoint has them yet, by design."""
        with self.write() as conn:
            cursor = conn.cursor(row_factory=tuple_row)
            # Locked: two prunes at once would each move the mark on from what they read.
            ((after_id,),) = cursor.execute("SELECT events_checked_through FROM dispatcher_prune FOR UPDATE").fetchall()
            ((last_id, oldest),) = cursor.execute(
                "SELECT max(id), min(created_at) "
                "FROM (SELECT id, created_at FROM events WHERE id > %s ORDER BY id LIMIT %s) AS next",
                (after_id, CHUNK),
            ).fetchall()
            if last_id is None or oldest >= cutoff:
                return Pruned(), False  # ids follow queue time: nothing further on is old enough
            # Only up to the first event too young: it and those after it are checked next time.
            ((checked_through,),) = cursor.execute(
                "SELECT coalesce((SELECT min(id) - 1 FROM events WHERE id > %s AND id <= %s AND created_at >= %s), %s)",
                (after_id, last_id, cutoff, last_id),
            ).fetchall()
            deleted = cursor.execute(
                f"DELETE FROM events WHERE id > %s AND id <= %s AND staged_as IS NULL AND {_UNNEEDED}",
                (after_id, checked_through),
            ).rowcount
            cursor.execute("UPDATE dispatcher_prune SET events_checked_through = %s", (checked_through,))
            return Pruned(events=deleted), checked_through == last_id

    def prune_test_attempts(self, cutoff: datetime) -> Pruned:
        with self.write() as conn:
            deleted = conn.execute(
                "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE started_at < %s AND test LIMIT %s)",
                (cutoff, CHUNK),
            ).rowcount
        return Pruned(attempts=deleted)


# A batch's deliveries, found by primary key from its event_ids (a replayed one has moved on: its
# batch_id no longer matches): deliveries has no index on batch_id.
_BATCH_DELIVERIES = (
    "batches AS b CROSS JOIN json_array_elements_text(b.event_ids::json) AS member (id) "
    "JOIN deliveries AS d ON d.endpoint_id = b.endpoint_id AND d.event_id = member.id::bigint AND d.batch_id = b.id"
)
_REPLAYABLE_FROM = f"{_BATCH_DELIVERIES} JOIN events AS e ON e.id = d.event_id"
# The same for DELETE ... USING, from the chunk of batches %(ids)s.
_CHUNK_DELIVERIES = (
    "batches AS b CROSS JOIN json_array_elements_text(b.event_ids::json) AS member (id), events AS e "
    "WHERE b.id = ANY(%(ids)s) AND d.endpoint_id = b.endpoint_id AND d.event_id = member.id::bigint "
    "AND d.batch_id = b.id AND e.id = d.event_id"
)
# Finished batches of a state, oldest first, through batches_by_state_finished; locked, in that order.
_BEFORE_ALL = datetime.min.replace(tzinfo=UTC)
_LAST_FINISHED = "SELECT max(finished_at) FROM batches WHERE state = %s AND finished_at IS NOT NULL"
_NEXT_FINISHED = (
    "SELECT finished_at, id FROM batches WHERE state = %s AND finished_at IS NOT NULL AND finished_at <= %s "
    "AND (finished_at, id) > (%s, %s) ORDER BY finished_at, id LIMIT %s FOR UPDATE"
)

# No endpoint still has the event queued or batched. Neither table has an index on the event
# alone: each test looks up (endpoint, event) in its primary key for each of the few endpoints.
_UNNEEDED = (
    "NOT EXISTS (SELECT 1 FROM pending AS p "
    "WHERE p.endpoint_id = ANY (ARRAY(SELECT id FROM endpoints)) AND p.event_id = events.id) "
    "AND NOT EXISTS (SELECT 1 FROM deliveries AS d "
    "WHERE d.endpoint_id = ANY (ARRAY(SELECT id FROM endpoints)) AND d.event_id = events.id)"
)


def _replayable(selection: Selection) -> tuple[str, dict[str, Any]]:
    return conditions(
        (
            "b.finished_at IS NOT NULL",
            "b.state = 'dead'" if selection.dead_only else "b.state IN ('delivered', 'dead')",
        ),
        (
            ("d.event_id = %(event_id)s", "event_id", selection.event_id),
            ("d.endpoint_id = %(endpoint_id)s", "endpoint_id", selection.endpoint_id),
            ("e.created_at >= %(since)s", "since", selection.since),
            ("e.created_at < %(until)s", "until", selection.until),
            ("glob_match(%(event_type)s, e.type)", "event_type", selection.event_type),
        ),
    )
