"""Every SQL statement the dispatcher runs, behind one class.

A second backend (PostgreSQL, for deployments that outgrow one server) is meant
to be a second implementation of :class:`Store`, not a rewrite of its callers,
so nothing outside this module writes SQL.

Concurrency rules, relied on by the process loop:

* every connection comes from :func:`connect` (WAL, busy timeout, foreign keys);
* read-then-write runs inside :meth:`Store.write`, a ``BEGIN IMMEDIATE``
  transaction, so two runs never decide on the same stale read;
* a worker only changes an endpoint's batches while it holds the endpoint's
  lease, and every outcome is written only if the lease is still its own.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import sqlite_utils

from .clock import from_text, to_text
from .errors import DispatcherError, NotFound
from .models import Attempt, Batch, Endpoint, EndpointStatus, Event, Outcome, Settings
from .settings import effective

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
# A lease outlives the request it covers by this much, so a live worker never
# loses its endpoint mid-request, and a killed one's batch is resent soon after.
LEASE_MARGIN_S = 30.0

# Columns that add/update may set, and how each maps to the table.
ENDPOINT_COLUMNS = {
    "name": "name",
    "url": "url",
    "secret": "secret",
    "events": "events",
    "order": "sort_order",
    "batch_size": "batch_size",
    "timeout": "timeout_ms",
    "max_attempts": "max_attempts",
}


def schema_sql() -> str:
    return resources.files("dispatcher").joinpath("schema.sql").read_text(encoding="utf-8")


def connect(path: str | Path, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """The one connection factory: every connection gets the same pragmas."""
    try:
        conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        raise DispatcherError(f"cannot open database {str(path)!r}: {error}", exit_code=1) from None
    return conn


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.db = sqlite_utils.Database(conn)
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> Store:
        store = cls(connect(path))
        store.apply_schema()
        return store

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction: takes the write lock before reading."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def apply_schema(self) -> None:
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                return
            # executescript commits anything open first, so the BEGIN IMMEDIATE
            # inside the script is what serializes two processes creating it.
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{schema_sql()}\nCOMMIT;")
        except sqlite3.DatabaseError as error:
            if self.conn.in_transaction:
                self.conn.rollback()
            raise DispatcherError(f"cannot set up the database: {error}", exit_code=1) from None

    # --- config ---------------------------------------------------------------

    def config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.db.query("SELECT key, value FROM config")}

    def set_config(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO config (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- producers ------------------------------------------------------------

    def insert_event(self, type_: str, payload: str) -> int:
        with self.write() as conn:
            cursor = conn.execute("INSERT INTO events (type, payload) VALUES (?, ?)", (type_, payload))
        return int(cursor.lastrowid or 0)

    def insert_events(self, rows: Iterable[tuple[str, str]]) -> int:
        """Many events in one transaction: all of them or none."""
        with self.write() as conn:
            cursor = conn.executemany("INSERT INTO events (type, payload) VALUES (?, ?)", rows)
        return cursor.rowcount

    def events(self, ids: Iterable[int]) -> list[Event]:
        return self._events_in_order(json.dumps(list(ids)))

    def _events_in_order(self, ids_json: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT e.id, e.type, e.payload, e.created_at "
            "FROM json_each(?) AS wanted JOIN events AS e ON e.id = wanted.value "
            "ORDER BY wanted.key",
            (ids_json,),
        )
        return [Event(*row) for row in rows]

    # --- endpoints ------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int:
        table = self.db.table("endpoints")
        table.insert(_endpoint_row(fields))
        return int(table.last_pk)

    def update_endpoint(self, endpoint_id: int, fields: dict[str, Any]) -> None:
        row = _endpoint_row(fields)
        if not row:
            self.endpoint(endpoint_id)
            return
        assignments = ", ".join(f"{column} = :{column}" for column in row)
        cursor = self.db.execute(
            f"UPDATE endpoints SET {assignments} WHERE id = :id", {**row, "id": endpoint_id}
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def endpoint(self, endpoint_id: int) -> Endpoint:
        rows = list(self.db.query("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        if not rows:
            raise NotFound(f"no endpoint {endpoint_id}")
        return _endpoint(rows[0])

    def endpoints(self) -> list[Endpoint]:
        return [_endpoint(row) for row in self.db.query("SELECT * FROM endpoints ORDER BY id")]

    def set_enabled(self, endpoint_id: int, enabled: bool, reason: str | None, at: str | None) -> None:
        cursor = self.db.execute(
            "UPDATE endpoints SET enabled = ?, disabled_reason = ?, disabled_at = ? WHERE id = ?",
            (int(enabled), reason, at, endpoint_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def delete_endpoint(self, endpoint_id: int) -> None:
        with self.write() as conn:
            cursor = conn.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    # --- the process loop -----------------------------------------------------

    def due_endpoints(self, now: datetime) -> list[tuple[int, str]]:
        """(endpoint id, due time) of every enabled endpoint with work and no live lease.

        An endpoint's due time is its open batch's (a retry goes first), else
        now if it has unbatched deliveries. Endpoints leased by a live run are
        left out: that run is serving them.
        """
        now_text = to_text(now)
        rows = self.conn.execute(
            """
            SELECT id, due_at FROM (
                SELECT e.id,
                       COALESCE(
                           (SELECT b.due_at FROM batches AS b
                            WHERE b.endpoint_id = e.id AND b.state = 'pending'),
                           (SELECT :now FROM deliveries AS d
                            WHERE d.endpoint_id = e.id AND d.batch_id IS NULL LIMIT 1)
                       ) AS due_at
                FROM endpoints AS e
                WHERE e.enabled = 1
                  AND (e.lease_expires_at IS NULL OR e.lease_expires_at <= :now)
            )
            WHERE due_at IS NOT NULL
            ORDER BY due_at, id
            """,
            {"now": now_text},
        )
        return [(int(endpoint_id), due_at) for endpoint_id, due_at in rows]

    def claim_batch(
        self, endpoint_id: int, lease_id: str, now: datetime, defaults: Settings
    ) -> tuple[Endpoint, Settings, Batch] | None:
        """Lease the endpoint (or renew our lease) and hand out its next due batch.

        The open batch comes first; if there is none, up to ``batch_size``
        unbatched deliveries become a new one. Returns None, with the lease
        released, when the endpoint is disabled, leased by someone else, or has
        nothing due.
        """
        now_text = to_text(now)
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE endpoints SET lease_id = :lease "
                "WHERE id = :id AND enabled = 1 AND (lease_id = :lease "
                "OR lease_expires_at IS NULL OR lease_expires_at <= :now) RETURNING *",
                {"lease": lease_id, "id": endpoint_id, "now": now_text},
            )
            rows = _dicts(cursor)
            if not rows:
                return None
            endpoint = _endpoint(rows[0])
            settings = effective(endpoint, defaults)
            batch = self._open_batch(endpoint_id) or self._new_batch(endpoint_id, settings, now_text)
            if batch is None or batch[1] > now_text:
                conn.execute(
                    "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ?",
                    (endpoint_id,),
                )
                return None
            lease_until = now + timedelta(seconds=settings.timeout + LEASE_MARGIN_S)
            conn.execute(
                "UPDATE endpoints SET lease_expires_at = ? WHERE id = ?",
                (to_text(lease_until), endpoint_id),
            )
            return endpoint, settings, batch[0]

    def _open_batch(self, endpoint_id: int) -> tuple[Batch, str] | None:
        row = self.conn.execute(
            "SELECT id, event_ids, attempts, due_at FROM batches "
            "WHERE endpoint_id = ? AND state = 'pending'",
            (endpoint_id,),
        ).fetchone()
        if row is None:
            return None
        batch_id, event_ids, attempts, due_at = row
        events = tuple(self._events_in_order(event_ids))
        return Batch(batch_id, endpoint_id, events, attempts), due_at

    def _new_batch(self, endpoint_id: int, settings: Settings, now_text: str) -> tuple[Batch, str] | None:
        direction = "DESC" if settings.order == "desc" else "ASC"
        event_ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT event_id FROM deliveries WHERE endpoint_id = ? AND batch_id IS NULL "
                f"ORDER BY event_id {direction} LIMIT ?",
                (endpoint_id, settings.batch_size),
            )
        ]
        if not event_ids:
            return None
        batch_id = str(uuid.uuid4())
        ids_json = json.dumps(event_ids)
        self.conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, due_at, created_at) VALUES (?, ?, ?, ?, ?)",
            (batch_id, endpoint_id, ids_json, now_text, now_text),
        )
        self.conn.execute(
            "UPDATE deliveries SET batch_id = ? "
            "WHERE endpoint_id = ? AND event_id IN (SELECT value FROM json_each(?))",
            (batch_id, endpoint_id, ids_json),
        )
        events = tuple(self._events_in_order(ids_json))
        return Batch(batch_id, endpoint_id, events, 0), now_text

    def record_outcome(
        self, batch: Batch, lease_id: str, outcome: Outcome, next_due: datetime | None, now: datetime
    ) -> str | None:
        """Write one request's outcome, if the lease is still ours.

        On failure ``next_due`` is the retry time, or None when the batch is
        dead; either way the lease is released so the endpoint's next step
        waits for that time. Returns the batch's new state, or None when the
        lease was lost and nothing was written.
        """
        now_text = to_text(now)
        with self.write() as conn:
            held = conn.execute(
                "SELECT 1 FROM endpoints WHERE id = ? AND lease_id = ?", (batch.endpoint_id, lease_id)
            ).fetchone()
            if held is None:
                return None
            conn.execute(
                "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, "
                "status_code, error, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.endpoint_id,
                    batch.id,
                    outcome.started_at,
                    outcome.duration_ms,
                    int(outcome.ok),
                    outcome.status_code,
                    outcome.error,
                    outcome.response_excerpt,
                ),
            )
            if outcome.ok:
                state = "delivered"
                conn.execute(
                    "UPDATE batches SET state = 'delivered', attempts = attempts + 1, finished_at = ? "
                    "WHERE id = ?",
                    (now_text, batch.id),
                )
                conn.execute(
                    "UPDATE endpoints SET consecutive_failures = 0, last_success_at = ? WHERE id = ?",
                    (now_text, batch.endpoint_id),
                )
            else:
                state = "pending" if next_due is not None else "dead"
                error = outcome.error or f"HTTP {outcome.status_code}"
                conn.execute(
                    "UPDATE batches SET state = ?, attempts = attempts + 1, due_at = ?, "
                    "last_error = ?, finished_at = ? WHERE id = ?",
                    (
                        state,
                        to_text(next_due) if next_due else now_text,
                        error,
                        None if next_due else now_text,
                        batch.id,
                    ),
                )
                conn.execute(
                    "UPDATE endpoints SET consecutive_failures = consecutive_failures + 1, "
                    "last_error = ?, lease_id = NULL, lease_expires_at = NULL WHERE id = ?",
                    (error, batch.endpoint_id),
                )
        return state

    def release_lease(self, endpoint_id: int, lease_id: str) -> None:
        self.db.execute(
            "UPDATE endpoints SET lease_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease_id = ?",
            (endpoint_id, lease_id),
        )

    # --- inspection -----------------------------------------------------------

    def status(self, now: datetime) -> list[EndpointStatus]:
        now_text = to_text(now)
        rows = self.db.query(
            """
            SELECT e.id, e.url, e.enabled, e.consecutive_failures, e.last_success_at,
                   e.last_error, e.lease_expires_at > :now AS leased,
                   (SELECT count(*) FROM deliveries AS d
                    WHERE d.endpoint_id = e.id AND d.batch_id IS NULL) AS unbatched,
                   (SELECT json_array_length(b.event_ids) FROM batches AS b
                    WHERE b.endpoint_id = e.id AND b.state = 'pending') AS open_batch,
                   (SELECT count(*) FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id
                    WHERE d.endpoint_id = e.id AND b.state = 'delivered') AS delivered,
                   (SELECT count(*) FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id
                    WHERE d.endpoint_id = e.id AND b.state = 'dead') AS dead,
                   (SELECT created_at FROM events WHERE id = (
                        SELECT min(oldest) FROM (
                            SELECT min(d.event_id) AS oldest FROM deliveries AS d
                            WHERE d.endpoint_id = e.id AND d.batch_id IS NULL
                            UNION ALL
                            SELECT min(ids.value) FROM batches AS b, json_each(b.event_ids) AS ids
                            WHERE b.endpoint_id = e.id AND b.state = 'pending'
                        ))) AS oldest_pending_at
            FROM endpoints AS e ORDER BY e.id
            """,
            {"now": now_text},
        )
        result = []
        for row in rows:
            open_batch = row["open_batch"] or 0
            in_flight = open_batch if row["leased"] else 0
            oldest = row["oldest_pending_at"]
            result.append(
                EndpointStatus(
                    endpoint=row["id"],
                    url=row["url"],
                    enabled=bool(row["enabled"]),
                    pending=row["unbatched"] + open_batch - in_flight,
                    in_flight=in_flight,
                    delivered=row["delivered"],
                    dead=row["dead"],
                    consecutive_failures=row["consecutive_failures"],
                    last_success_at=row["last_success_at"],
                    last_error=row["last_error"],
                    oldest_pending_age_s=(
                        round((now - from_text(oldest)).total_seconds(), 3) if oldest else None
                    ),
                )
            )
        return result

    def attempts(self, endpoint_id: int | None, failed_only: bool, limit: int) -> list[Attempt]:
        """The newest ``limit`` attempts, oldest first."""
        where = ["1 = 1"]
        params: dict[str, Any] = {"limit": limit}
        if endpoint_id is not None:
            where.append("a.endpoint_id = :endpoint")
            params["endpoint"] = endpoint_id
        if failed_only:
            where.append("a.ok = 0")
        rows = self.db.query(
            f"""
            SELECT * FROM (
                SELECT a.id, a.endpoint_id, a.batch_id, b.event_ids, a.started_at, a.duration_ms,
                       a.status_code, a.error, a.response_excerpt
                FROM attempts AS a LEFT JOIN batches AS b ON b.id = a.batch_id
                WHERE {" AND ".join(where)}
                ORDER BY a.id DESC LIMIT :limit
            ) ORDER BY id
            """,
            params,
        )
        return [
            Attempt(
                id=row["id"],
                endpoint=row["endpoint_id"],
                batch_id=row["batch_id"],
                event_ids=tuple(json.loads(row["event_ids"] or "[]")),
                started_at=row["started_at"],
                duration_ms=row["duration_ms"],
                status_code=row["status_code"],
                error=row["error"],
                response_excerpt=row["response_excerpt"],
            )
            for row in rows
        ]


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _endpoint_row(fields: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for name, value in fields.items():
        column = ENDPOINT_COLUMNS[name]
        if name == "events":
            value = json.dumps(list(value))
        elif name == "timeout" and value is not None:
            value = round(value * 1000)
        row[column] = value
    return row


def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        secret=row["secret"],
        events=tuple(json.loads(row["events"])),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        disabled_at=row["disabled_at"],
        order=row["sort_order"],
        batch_size=row["batch_size"],
        timeout=row["timeout_ms"] / 1000 if row["timeout_ms"] is not None else None,
        max_attempts=row["max_attempts"],
        consecutive_failures=row["consecutive_failures"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )
