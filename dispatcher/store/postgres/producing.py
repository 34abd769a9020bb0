"""Statements of the producer and admin side: events, staging, endpoints, config."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg

from ...endpoint_settings import SETTINGS
from ...endpoint_settings.setting import SWITCH
from ...errors import NotFound
from ...models import Endpoint
from ..errors import PayloadRefused, one_line
from ..rows import endpoint_from_row, endpoint_row
from ..types import EndpointChange, Staged
from .connection import Connection, PgConnection

# pending is keyed (endpoint, event): one primary-key probe per endpoint, not a scan of the backlog.
_QUEUED_FOR = "SELECT count(*) AS n FROM endpoints JOIN pending ON pending.endpoint_id = endpoints.id AND event_id = %s"
_COPY_EVENTS = "COPY events (type, payload, created_at) FROM STDIN"
# The settings kept in boolean columns: rows.endpoint_row gives them as SQLite's 0 and 1.
_SWITCHES = frozenset(setting.column for setting in SETTINGS if setting.stored is SWITCH)


class Producing(Connection):
    # --- config ---------------------------------------------------------------

    def config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.conn.execute("SELECT key, value FROM config")}

    def set_config(self, key: str, value: str, due_at: datetime | None = None) -> int:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO config (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            return 0 if due_at is None else _make_due(conn, due_at)

    # --- producers ------------------------------------------------------------

    def insert_event(self, type_: str, payload: str) -> int:
        # One statement in autocommit: the trigger's fan-out is in its transaction.
        row = self.conn.execute("INSERT INTO events (type, payload) VALUES (%s, %s) RETURNING id", (type_, payload))
        return int(_one(row.fetchone())["id"])

    def insert_event_counted(self, type_: str, payload: str) -> tuple[int, int]:
        with self.write() as conn:
            event_id = int(
                _one(
                    conn.execute(
                        "INSERT INTO events (type, payload) VALUES (%s, %s) RETURNING id", (type_, payload)
                    ).fetchone()
                )["id"]
            )
            queued_for = int(_one(conn.execute(_QUEUED_FOR, (event_id,)).fetchone())["n"])
        return event_id, queued_for

    def insert_events(self, rows: Iterable[tuple[str, str, datetime]]) -> int:
        """One COPY, so the trigger fans them all out (and notifies) once."""
        with self.write() as conn:
            return _copy_events(conn, rows)

    def stage_events(self, rows: Iterable[tuple[str, str, datetime]]) -> Staged:
        """The schema marks the rows with the transaction's ``dispatcher.staging`` token, and its
        trigger leaves marked rows alone: ids interleave with other producers', so the token, not
        an id range, says which events are these."""
        token = secrets.token_hex(16)
        try:
            with self.write() as conn:
                conn.execute("SELECT set_config('dispatcher.staging', %s, true)", (token,))
                count = _copy_events(conn, rows)
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as error:
            # The COPY sends rows ahead of the server's checks: the refused row is the line it names,
            # not the last one taken from ``rows``.
            line = re.search(r"^COPY events, line (\d+)", error.diag.context or "", re.MULTILINE)
            if line is None:
                raise
            raise PayloadRefused(one_line(error), row=int(line[1]) - 1) from error
        return Staged(token, count)

    def queue_staged(self, staged: Iterable[Staged]) -> None:
        with self.write() as conn:
            for chunk in staged:
                conn.execute("SELECT queue_staged(%s)", (chunk.token,))

    def drop_staged(self, staged: Iterable[Staged]) -> None:
        with self.write() as conn:
            for chunk in staged:
                conn.execute("DELETE FROM events WHERE staged_as = %s", (chunk.token,))

    # --- endpoints ------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int:
        row = _pg_row(endpoint_row(fields))
        columns = ", ".join(row)
        values = ", ".join(f"%({column})s" for column in row)
        inserted = self.conn.execute(f"INSERT INTO endpoints ({columns}) VALUES ({values}) RETURNING id", row)
        return int(_one(inserted.fetchone())["id"])

    def change_endpoint(self, endpoint_id: int, change: Callable[[Endpoint], EndpointChange]) -> tuple[Endpoint, int]:
        """Of two admins at once, the second waits on the row lock, then reads the first's change."""
        with self.write() as conn:
            found = conn.execute("SELECT * FROM endpoints WHERE id = %s FOR UPDATE", (endpoint_id,)).fetchone()
            if found is None:
                raise NotFound(f"no endpoint {endpoint_id}")
            wanted = change(endpoint_from_row(found))
            row = _pg_row(endpoint_row(wanted.fields))
            if row:
                assignments = ", ".join(f"{column} = %({column})s" for column in row)
                conn.execute(f"UPDATE endpoints SET {assignments} WHERE id = %(id)s", {**row, "id": endpoint_id})
            due = 0 if wanted.due_at is None else _make_due(conn, wanted.due_at, endpoint_id)
            changed = _one(conn.execute("SELECT * FROM endpoints WHERE id = %s", (endpoint_id,)).fetchone())
        return endpoint_from_row(changed), due

    def endpoint(self, endpoint_id: int) -> Endpoint:
        row = self.conn.execute("SELECT * FROM endpoints WHERE id = %s", (endpoint_id,)).fetchone()
        if row is None:
            raise NotFound(f"no endpoint {endpoint_id}")
        return endpoint_from_row(row)

    def endpoints(self) -> list[Endpoint]:
        return [endpoint_from_row(row) for row in self.conn.execute("SELECT * FROM endpoints ORDER BY id")]

    def enable_endpoint(self, endpoint_id: int, now: datetime) -> None:
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL, "
                "consecutive_failures = 0 WHERE id = %s",
                (endpoint_id,),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no endpoint {endpoint_id}")
            _make_due(conn, now, endpoint_id)

    def disable_endpoint(self, endpoint_id: int, reason: str, now: datetime) -> None:
        cursor = self.conn.execute(
            "UPDATE endpoints SET enabled = false, disabled_reason = %s, disabled_at = %s WHERE id = %s",
            (reason, now, endpoint_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def delete_endpoint(self, endpoint_id: int) -> None:
        with self.write() as conn:
            cursor = conn.execute("DELETE FROM endpoints WHERE id = %s", (endpoint_id,))
            if cursor.rowcount == 0:
                raise NotFound(f"no endpoint {endpoint_id}")
            # Events only this endpoint was to get are needed no more, wherever prune had got to.
            conn.execute("UPDATE dispatcher_prune SET events_checked_through = 0")


def _make_due(conn: PgConnection, now: datetime, endpoint_id: int | None = None) -> int:
    """Make the batches waiting for a later retry due at ``now``: the endpoint's one, or every
    endpoint's; returns how many. Through the index of open batches, not the whole table."""
    which = "endpoint_id = %(id)s" if endpoint_id is not None else "endpoint_id IN (SELECT id FROM endpoints)"
    cursor = conn.execute(
        f"UPDATE batches SET due_at = %(now)s WHERE {which} AND state = 'pending' AND due_at > %(now)s",
        {"now": now, "id": endpoint_id},
    )
    return cursor.rowcount


def _copy_events(conn: PgConnection, rows: Iterable[tuple[str, str, datetime]]) -> int:
    """COPY the (type, payload, created_at) rows into events, in the caller's transaction; returns how many."""
    count = 0
    with conn.cursor().copy(_COPY_EVENTS) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _pg_row(row: dict[str, Any]) -> dict[str, Any]:
    """An endpoint row as PostgreSQL's columns take it: its switches as booleans."""
    return {
        column: bool(value) if column in _SWITCHES and value is not None else value for column, value in row.items()
    }


def _one(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row a statement that always returns one returned."""
    assert row is not None
    return row
