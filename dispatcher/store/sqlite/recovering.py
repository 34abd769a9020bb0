"""Statements for what failed or finished: the dead-letter list, replay, and pruning.

Replay and prune work in chunks of their own short write transactions, so
producers inserting events never wait long for the write lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from ...clock import to_text
from ...models import DeadLetter, Pruned, Selection
from ..filtering import conditions
from ..protocol import CHUNK
from ..rows import time_text
from ..shaping import dead_letter
from .connection import Connection


class Recovering(Connection):
    def dead(self, endpoint_id: int | None = None) -> list[DeadLetter]:
        self.require_endpoint(endpoint_id)
        where, params = "b.state = 'dead' AND b.finished_at IS NOT NULL", {}
        if endpoint_id is not None:
            where += " AND b.endpoint_id = :endpoint"
            params["endpoint"] = endpoint_id
        rows = self.conn.execute(
            "SELECT d.endpoint_id, d.event_id, e.type, b.attempts, b.last_error, b.finished_at "
            f"FROM {_BATCH_DELIVERIES} JOIN events AS e ON e.id = d.event_id "
            f"WHERE {where} ORDER BY b.finished_at, d.endpoint_id, d.event_id",
            params,
        )
        return [dead_letter(row) for row in rows]

    def dead_page(
        self, selection: Selection, before: tuple[int, int] | None = None, limit: int = 50
    ) -> list[DeadLetter]:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(replace(selection, dead_only=True))
        if before is not None:
            where += " AND (d.event_id, d.endpoint_id) < (:before_event, :before_endpoint)"
            params.update(before_event=before[0], before_endpoint=before[1])
        rows = self.conn.execute(
            "SELECT d.endpoint_id, d.event_id, e.type, b.attempts, b.last_error, b.finished_at "
            f"FROM {_REPLAYABLE_FROM} WHERE {where} ORDER BY d.event_id DESC, d.endpoint_id DESC LIMIT :limit",
            {**params, "limit": limit},
        )
        return [dead_letter(row) for row in rows]

    def replay_dead(self, deliveries: Iterable[tuple[int, int]]) -> int:
        with self.write() as conn:
            chosen = [
                pair
                for pair in dict.fromkeys(deliveries)
                if conn.execute(
                    "SELECT 1 FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id "
                    "WHERE d.endpoint_id = ? AND d.event_id = ? AND b.state = 'dead'",
                    pair,
                ).fetchone()
            ]
            conn.executemany("DELETE FROM deliveries WHERE endpoint_id = ? AND event_id = ?", chosen)
            conn.executemany("INSERT INTO pending (endpoint_id, event_id) VALUES (?, ?)", chosen)
        return len(chosen)

    def count_replayable(self, selection: Selection) -> int:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(selection)
        row = self.conn.execute(f"SELECT count(*) FROM {_REPLAYABLE_FROM} WHERE {where}", params).fetchone()
        return int(row[0])

    def replay(self, selection: Selection, progress: Callable[[int], None] = lambda done: None) -> int:
        self.require_endpoint(selection.endpoint_id)
        where, params = _replayable(selection)
        states = ("dead",) if selection.dead_only else ("delivered", "dead")
        # Both bounds first: a delivery replayed by the first pass may die again before the second.
        bounds = [(state, self.conn.execute(_LAST_FINISHED, (state,)).fetchone()[0]) for state in states]
        total = 0
        for state, last_finished in bounds:
            after: tuple[str, str] = ("", "")
            while last_finished is not None:
                with self.write() as conn:
                    batches = conn.execute(_NEXT_FINISHED, (state, last_finished, *after, CHUNK)).fetchall()
                    if not batches:
                        break
                    after = batches[-1]
                    ids = json.dumps([batch_id for _, batch_id in batches])
                    chosen = conn.execute(
                        f"SELECT d.endpoint_id, d.event_id FROM {_REPLAYABLE_FROM} "
                        f"WHERE b.id IN (SELECT value FROM json_each(:ids)) AND {where}",
                        {**params, "ids": ids},
                    ).fetchall()
                    conn.executemany("DELETE FROM deliveries WHERE endpoint_id = ? AND event_id = ?", chosen)
                    conn.executemany("INSERT INTO pending (endpoint_id, event_id) VALUES (?, ?)", chosen)
                total += len(chosen)
                progress(len(chosen))
        return total

    def prune_batches(self, cutoff: datetime, states: tuple[str, ...]) -> Pruned:
        with self.write() as conn:
            rows = []
            for state in states:  # one index range per state
                rows += conn.execute(
                    "SELECT id, event_ids FROM batches WHERE state = ? AND finished_at < ? LIMIT ?",
                    (state, to_text(cutoff), CHUNK),
                ).fetchall()
            if not rows:
                return Pruned()
            ids = json.dumps([batch_id for batch_id, _ in rows])
            event_ids = json.dumps(sorted({event for _, events in rows for event in json.loads(events)}))
            pruned = Pruned(batches=len(rows))
            in_ids = "IN (SELECT value FROM json_each(?))"
            pruned.deliveries = conn.execute(
                f"DELETE FROM deliveries WHERE (endpoint_id, event_id, batch_id) IN "
                f"(SELECT d.endpoint_id, d.event_id, d.batch_id FROM {_BATCH_DELIVERIES} WHERE b.id {in_ids})",
                (ids,),
            ).rowcount
            pruned.attempts = conn.execute(f"DELETE FROM attempts WHERE batch_id {in_ids}", (ids,)).rowcount
            conn.execute(f"DELETE FROM batches WHERE id {in_ids}", (ids,))
            pruned.events = conn.execute(f"DELETE FROM events WHERE id {in_ids} AND {_UNNEEDED}", (event_ids,)).rowcount
            return pruned

    def prune_unsubscribed_events(self, cutoff: datetime) -> tuple[Pruned, bool]:
        cutoff_text = to_text(cutoff)
        with self.write() as conn:
            (after_id,) = conn.execute("SELECT events_checked_through FROM dispatcher_prune").fetchone()
            last_id, oldest = conn.execute(
                "SELECT max(id), min(created_at) "
                "FROM (SELECT id, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?)",
                (after_id, CHUNK),
            ).fetchone()
            if last_id is None or oldest >= cutoff_text:
                return Pruned(), False  # ids follow queue time: nothing further on is old enough
            # Only up to the first event too young: it and those after it are checked next time.
            checked_through = conn.execute(
                "SELECT coalesce((SELECT min(id) - 1 FROM events WHERE id > ? AND id <= ? AND created_at >= ?), ?)",
                (after_id, last_id, cutoff_text, last_id),
            ).fetchone()[0]
            deleted = conn.execute(
                f"DELETE FROM events WHERE id > ? AND id <= ? AND {_UNNEEDED}", (after_id, checked_through)
            ).rowcount
            conn.execute("UPDATE dispatcher_prune SET events_checked_through = ?", (checked_through,))
            return Pruned(events=deleted), checked_through == last_id

    def prune_test_attempts(self, cutoff: datetime) -> Pruned:
        with self.write() as conn:
            deleted = conn.execute(
                "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE started_at < ? AND test = 1 LIMIT ?)",
                (to_text(cutoff), CHUNK),
            ).rowcount
        return Pruned(attempts=deleted)

    def maintain(self) -> None:
        """Fold the write-ahead log back into the database file, so the log is reused from its start.

        PASSIVE: it copies what it can without waiting, so producers are never held up; a log
        still in use is folded in by a later checkpoint, and journal_size_limit trims it then.
        """
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


# A batch's deliveries, found by primary key from its event_ids (a replayed one
# has moved on: its batch_id no longer matches). CROSS JOIN keeps SQLite to
# this order, batch first, whatever it guesses of the tables' sizes.
_BATCH_DELIVERIES = (
    "batches AS b CROSS JOIN json_each(b.event_ids) AS member CROSS JOIN deliveries AS d "
    "ON d.endpoint_id = b.endpoint_id AND d.event_id = member.value AND d.batch_id = b.id"
)
_REPLAYABLE_FROM = f"{_BATCH_DELIVERIES} JOIN events AS e ON e.id = d.event_id"
# Finished batches of a state, oldest first, through batches_by_state_finished (whose key ends in the id).
_LAST_FINISHED = "SELECT max(finished_at) FROM batches WHERE state = ? AND finished_at IS NOT NULL"
_NEXT_FINISHED = (
    "SELECT finished_at, id FROM batches WHERE state = ? AND finished_at IS NOT NULL AND finished_at <= ? "
    "AND (finished_at, id) > (?, ?) ORDER BY finished_at, id LIMIT ?"
)

# No endpoint still has the event queued or batched. Driven from the few
# endpoints, so each test is a primary-key lookup (endpoint, event); CROSS JOIN
# keeps SQLite from scanning the big table instead, as it otherwise chooses.
_UNNEEDED = (
    "NOT EXISTS (SELECT 1 FROM endpoints AS n CROSS JOIN pending AS p "
    "ON p.endpoint_id = n.id AND p.event_id = events.id) "
    "AND NOT EXISTS (SELECT 1 FROM endpoints AS n CROSS JOIN deliveries AS d "
    "ON d.endpoint_id = n.id AND d.event_id = events.id)"
)


def _replayable(selection: Selection) -> tuple[str, dict[str, Any]]:
    return conditions(
        (
            "b.finished_at IS NOT NULL",
            "b.state = 'dead'" if selection.dead_only else "b.state IN ('delivered', 'dead')",
        ),
        (
            ("d.event_id = :event_id", "event_id", selection.event_id),
            ("d.endpoint_id = :endpoint_id", "endpoint_id", selection.endpoint_id),
            ("e.created_at >= :since", "since", time_text(selection.since)),
            ("e.created_at < :until", "until", time_text(selection.until)),
            ("e.type GLOB :event_type", "event_type", selection.event_type),
        ),
    )
