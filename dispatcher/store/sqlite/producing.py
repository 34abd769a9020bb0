"""Statements of the producer and admin side: events, endpoints, config."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from ...clock import to_text
from ...errors import NotFound
from ...models import Endpoint
from ...payloads import MAX_PAYLOAD_BYTES
from ..rows import endpoint_from_row, endpoint_row
from ..types import EndpointChange, Staged
from .connection import Connection
from .enqueueing import insert_event, insert_event_counted
from .rows import dicts


class Producing(Connection):
    # --- config ---------------------------------------------------------------

    def config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.db.query("SELECT key, value FROM config")}

    def set_config(self, key: str, value: str, due_at: datetime | None = None) -> int:
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
        return insert_event_counted(self.conn, type_, payload)

    def insert_events(self, rows: Iterable[tuple[str, str, datetime]]) -> int:
        with self.write() as conn:
            after, last = _insert_unqueued(conn, rows)
            _fan_out(conn, after, last)
        return last - after

    def stage_events(self, rows: Iterable[tuple[str, str, datetime]]) -> Staged:
        with self.write() as conn:
            after, last = _insert_unqueued(conn, rows)
        # Under the write lock the ids of one transaction are one range: the range is the token.
        return Staged(f"{after}:{last}", last - after)

    def queue_staged(self, staged: Iterable[Staged]) -> None:
        with self.write() as conn:
            for after, last in _ranges(staged):
                _fan_out(conn, after, last)

    def drop_staged(self, staged: Iterable[Staged]) -> None:
        with self.write() as conn:
            for after, last in _ranges(staged):
                conn.execute("DELETE FROM events WHERE id > ? AND id <= ?", (after, last))

    # --- endpoints ------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int:
        table = self.db.table("endpoints")
        table.insert(endpoint_row(fields))
        return int(table.last_pk or 0)

    def change_endpoint(self, endpoint_id: int, change: Callable[[Endpoint], EndpointChange]) -> tuple[Endpoint, int]:
        with self.write() as conn:
            rows = dicts(conn.execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
            if not rows:
                raise NotFound(f"no endpoint {endpoint_id}")
            wanted = change(endpoint_from_row(rows[0]))
            row = endpoint_row(wanted.fields)
            if row:
                assignments = ", ".join(f"{column} = :{column}" for column in row)
                conn.execute(f"UPDATE endpoints SET {assignments} WHERE id = :id", {**row, "id": endpoint_id})
            due = 0 if wanted.due_at is None else _make_due(conn, wanted.due_at, endpoint_id)
            changed = endpoint_from_row(dicts(conn.execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))[0])
        return changed, due

    def endpoint(self, endpoint_id: int) -> Endpoint:
        rows = list(self.db.query("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        if not rows:
            raise NotFound(f"no endpoint {endpoint_id}")
        return endpoint_from_row(rows[0])

    def endpoints(self) -> list[Endpoint]:
        return [endpoint_from_row(row) for row in self.db.query("SELECT * FROM endpoints ORDER BY id")]

    def enable_endpoint(self, endpoint_id: int, now: datetime) -> None:
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

    Row by row, the fan-out costs more than the insert itself, so the trigger leaves it to the
    caller while dispatcher_staging has a row: one that only this transaction sees, as the caller
    holds the write lock, and that goes before the commit (or with a rollback).
    """
    conn.execute("INSERT INTO dispatcher_staging (staging) VALUES (1)")
    after = _last_event_id(conn)
    conn.executemany("INSERT INTO events (type, payload, created_at) VALUES (?, ?, ?)", _stored_rows(rows))
    conn.execute("DELETE FROM dispatcher_staging")
    return after, _last_event_id(conn)


def _stored_rows(rows: Iterable[tuple[str, str, datetime]]) -> Iterator[tuple[str, str, str]]:
    """The rows as the table takes them: the queue time as stored text, converted once per time (a
    bulk insert's rows share one); and the trigger's size rule, which it skips for them, applied
    here (a payload of at most MAX_PAYLOAD_BYTES / 4 characters cannot be over it: encoding is skipped)."""
    last: datetime | None = None
    text = ""
    for type_, payload, queued_at in rows:
        if len(payload) > MAX_PAYLOAD_BYTES // 4 and len(payload.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
            raise sqlite3.IntegrityError("payload over 1 MiB")
        if queued_at is not last:
            last, text = queued_at, to_text(queued_at)
        yield type_, payload, text


def _fan_out(conn: sqlite3.Connection, after: int, last: int) -> None:
    """The trigger's work for the events in (after, last]: who gets each type is asked of the
    rule (event_routes) once per type, through one event of it; the rows of a type then go to its
    endpoints in one statement each. Many types: the rule row by row, in one statement."""
    types = conn.execute(_TYPES_IN_RANGE, (after, last, FEW_TYPES + 1)).fetchall()
    if len(types) > FEW_TYPES:
        conn.execute(_ROUTES_IN_RANGE, (after, last))
        return
    for type_, first_id in types:
        for (endpoint_id,) in conn.execute(_ROUTES_OF_EVENT, (first_id,)).fetchall():
            conn.execute(_QUEUE_TYPE_IN_RANGE, (endpoint_id, after, last, type_))


# A bulk insert with at most this many event types is fanned out type by type.
FEW_TYPES = 4
_TYPES_IN_RANGE = "SELECT type, min(id) FROM events WHERE id > ? AND id <= ? GROUP BY type LIMIT ?"
_ROUTES_OF_EVENT = "SELECT endpoint_id FROM event_routes WHERE event_id = ?"
_QUEUE_TYPE_IN_RANGE = (
    "INSERT INTO pending (endpoint_id, event_id) SELECT ?, id FROM events WHERE id > ? AND id <= ? AND type = ?"
)
_ROUTES_IN_RANGE = (
    "INSERT INTO pending (endpoint_id, event_id) "
    "SELECT endpoint_id, event_id FROM event_routes WHERE event_id > ? AND event_id <= ?"
)


def _ranges(staged: Iterable[Staged]) -> list[tuple[int, int]]:
    return [(int(after), int(last)) for after, _, last in (chunk.token.partition(":") for chunk in staged)]


def _last_event_id(conn: sqlite3.Connection) -> int:
    """The highest id ever given to an event (AUTOINCREMENT keeps it in sqlite_sequence)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0
