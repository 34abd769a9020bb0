"""Statements of the producer and admin side: events, endpoints, config."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from ...clock import to_text
from ...errors import NotFound
from ...models import Endpoint
from .connection import Connection
from .enqueueing import insert_event, insert_event_counted
from .rows import endpoint_from_row, endpoint_row


class Producing(Connection):
    # --- config ---------------------------------------------------------------

    def config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.db.query("SELECT key, value FROM config")}

    def set_config(self, key: str, value: str, due_at: datetime | None = None) -> int:
        """Store a global setting. With ``due_at``, every batch waiting for its retry becomes due
        then, in the same transaction; returns how many did."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            return 0 if due_at is None else _make_due(conn, due_at)

    # --- producers ------------------------------------------------------------

    def insert_event(self, type_: str, payload: str) -> int:
        return insert_event(self.conn, type_, payload)

    def insert_event_counted(self, type_: str, payload: str) -> tuple[int, int]:
        """Queue one event; returns its id and how many endpoints it was queued for."""
        return insert_event_counted(self.conn, type_, payload)

    def insert_events(self, rows: Iterable[tuple[str, str, datetime]]) -> int:
        """Many (type, payload, created_at) events in one transaction: all of them or none."""
        with self.write() as conn:
            after, last = _insert_unqueued(conn, rows)
            _fan_out(conn, after, last)
        return last - after

    def stage_events(self, rows: Iterable[tuple[str, str, datetime]]) -> tuple[int, int]:
        """Insert events that no endpoint gets yet, in one transaction; returns their ids as a range
        (after, last]. :meth:`queue_staged` queues them for their endpoints, :meth:`drop_staged` deletes
        them: a large import writes in chunks, yet becomes deliverable all at once or not at all."""
        with self.write() as conn:
            return _insert_unqueued(conn, rows)

    def queue_staged(self, ranges: Iterable[tuple[int, int]]) -> None:
        with self.write() as conn:
            for after, last in ranges:
                _fan_out(conn, after, last)

    def drop_staged(self, ranges: Iterable[tuple[int, int]]) -> None:
        with self.write() as conn:
            for after, last in ranges:
                conn.execute("DELETE FROM events WHERE id > ? AND id <= ?", (after, last))

    # --- endpoints ------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int:
        table = self.db.table("endpoints")
        table.insert(endpoint_row(fields))
        return int(table.last_pk or 0)

    def update_endpoint(self, endpoint_id: int, fields: dict[str, Any], due_at: datetime | None = None) -> int:
        """Change the given settings. With ``due_at``, the endpoint's batch waiting for its retry
        becomes due then, in the same transaction; returns how many did (0 or 1)."""
        row = endpoint_row(fields)
        with self.write() as conn:
            if not conn.execute("SELECT 1 FROM endpoints WHERE id = ?", (endpoint_id,)).fetchone():
                raise NotFound(f"no endpoint {endpoint_id}")
            if row:
                assignments = ", ".join(f"{column} = :{column}" for column in row)
                conn.execute(f"UPDATE endpoints SET {assignments} WHERE id = :id", {**row, "id": endpoint_id})
            return 0 if due_at is None else _make_due(conn, due_at, endpoint_id)

    def endpoint(self, endpoint_id: int) -> Endpoint:
        rows = list(self.db.query("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        if not rows:
            raise NotFound(f"no endpoint {endpoint_id}")
        return endpoint_from_row(rows[0])

    def endpoints(self) -> list[Endpoint]:
        return [endpoint_from_row(row) for row in self.db.query("SELECT * FROM endpoints ORDER BY id")]

    def enable_endpoint(self, endpoint_id: int, now: datetime) -> None:
        """Resume an endpoint with a clean failure count; a retry it was waiting for is due at once."""
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE endpoints SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, "
                "consecutive_failures = 0 WHERE id = ?",
                (endpoint_id,),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no endpoint {endpoint_id}")
            _make_due(conn, now, endpoint_id)

    def disable_endpoint(self, endpoint_id: int, reason: str, now: datetime) -> None:
        cursor = self.db.execute(
            "UPDATE endpoints SET enabled = 0, disabled_reason = ?, disabled_at = ? WHERE id = ?",
            (reason, to_text(now), endpoint_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def delete_endpoint(self, endpoint_id: int) -> None:
        with self.write() as conn:
            cursor = conn.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
            # Events only this endpoint was to get are needed no more, wherever prune had got to.
            conn.execute("UPDATE dispatcher_prune SET events_checked_through = 0")
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")


def _make_due(conn: sqlite3.Connection, now: datetime, endpoint_id: int | None = None) -> int:
    """Make the batches waiting for a later retry due at ``now``: the endpoint's one, or every
    endpoint's; returns how many. Through the index of open batches, not the whole table."""
    which = "endpoint_id = :id" if endpoint_id is not None else "endpoint_id IN (SELECT id FROM endpoints)"
    cursor = conn.execute(
        f"UPDATE batches SET due_at = :now WHERE {which} AND state = 'pending' AND due_at > :now",
        {"now": to_text(now), "id": endpoint_id},
    )
    return cursor.rowcount


def _insert_unqueued(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, datetime]]) -> tuple[int, int]:
    """Insert events without the trigger's fan-out; returns their id range (after, last].

    Row by row, the fan-out trigger costs more than the insert itself. So it is
    dropped for the transaction and put back before the commit, exactly as it
    was. The caller holds the write lock, so no other producer's insert can fall
    in between, and a failure rolls the drop back too.
    """
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_fan_out'").fetchone()
    conn.execute("DROP TRIGGER events_fan_out")
    after = _last_event_id(conn)
    conn.executemany("INSERT INTO events (type, payload, created_at) VALUES (?, ?, ?)", _stored_times(rows))
    conn.execute(trigger)
    return after, _last_event_id(conn)


def _stored_times(rows: Iterable[tuple[str, str, datetime]]) -> Iterator[tuple[str, str, str]]:
    """The rows with their queue time as stored text, converted once per time: a bulk insert's rows share one."""
    last: datetime | None = None
    text = ""
    for type_, payload, queued_at in rows:
        if queued_at is not last:
            last, text = queued_at, to_text(queued_at)
        yield type_, payload, text


def _fan_out(conn: sqlite3.Connection, after: int, last: int) -> None:
    """The trigger's work for the events in (after, last], one statement per type and endpoint."""
    types = [row[0] for row in conn.execute(_TYPES_IN_RANGE, (after, last, FEW_TYPES + 1))]
    if len(types) > FEW_TYPES:
        conn.execute(_FAN_OUT_RANGE, (after, last))  # one pass, each row against the patterns
        return
    for type_ in types:
        for (endpoint_id,) in conn.execute(_SUBSCRIBED, (type_,)).fetchall():
            conn.execute(_QUEUE_RANGE, (endpoint_id, after, last, type_))


# A bulk insert with at most this many event types is fanned out type by type.
FEW_TYPES = 4
_TYPES_IN_RANGE = "SELECT DISTINCT type FROM events WHERE id > ? AND id <= ? LIMIT ?"
# The trigger's rule, for a range of events at once.
_FAN_OUT_RANGE = (
    "INSERT INTO pending (endpoint_id, event_id) "
    "SELECT n.id, e.id FROM endpoints AS n JOIN events AS e ON e.id > ? AND e.id <= ? "
    "WHERE EXISTS (SELECT 1 FROM json_each(n.events) AS pattern WHERE e.type GLOB pattern.value)"
)
_QUEUE_RANGE = (
    "INSERT INTO pending (endpoint_id, event_id) SELECT ?, id FROM events WHERE id > ? AND id <= ? AND type = ?"
)
# The endpoints an event of a type goes to: the trigger's rule, for one type.
_SUBSCRIBED = (
    "SELECT id FROM endpoints WHERE EXISTS "
    "(SELECT 1 FROM json_each(endpoints.events) AS pattern WHERE ? GLOB pattern.value)"
)


def _last_event_id(conn: sqlite3.Connection) -> int:
    """The highest id ever given to an event (AUTOINCREMENT keeps it in sqlite_sequence)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0
