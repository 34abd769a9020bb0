"""One PostgreSQL connection with the dispatcher's schema: reads in autocommit, writes in short
transactions, and the driver's errors turned into the store's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row

from ...errors import NotFound
from .schema import apply_schema, channel, connect

PgConnection = psycopg.Connection[DictRow]
# How often a wait for events looks at its stop event.
WAKE_SLICE_S = 0.25


class Connection:
    """A connection in autocommit: a read is its own statement, and nothing stays open across an
    HTTP request. Read-then-write goes through :meth:`write`, one transaction that commits at the
    end of the block (or rolls back on an exception)."""

    def __init__(self, conn: PgConnection, schema: str, url: str) -> None:
        self.conn = conn
        self.schema = schema
        self.url = url
        # A second connection, made on the first wait, that LISTENs: the first one's autocommit
        # statements would otherwise have to poll for its notifications.
        self._listener: psycopg.Connection[Any] | None = None

    @classmethod
    def connected(cls, url: str, schema: str) -> PgConnection:
        conn = connect(url, schema)
        conn.autocommit = True
        conn.row_factory = dict_row  # type: ignore[assignment]  # the connection's rows change type here
        return cast(PgConnection, conn)

    @property
    def channel(self) -> str:
        """Where the fan-out notifies: LISTEN here to wake when events are queued."""
        return channel(self.schema)

    def close(self) -> None:
        self.conn.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def wait_for_events(self, timeout: float, stop: threading.Event) -> bool:
        """Wait for the fan-out's notification (one per transaction that queued events), looking at
        ``stop`` every WAKE_SLICE_S."""
        if self._listener is None:
            self._listener = connect(self.url, self.schema)
            self._listener.autocommit = True
            self._listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        give_up = time.monotonic() + timeout
        while not stop.is_set() and (left := give_up - time.monotonic()) > 0:
            if list(self._listener.notifies(timeout=min(left, WAKE_SLICE_S), stop_after=1)):
                # Others may have come meanwhile: they are answered by the same look.
                list(self._listener.notifies(timeout=0))
                return True
        return False

    @contextmanager
    def chore(self, name: str) -> Iterator[bool]:
        """A session advisory lock, per schema and chore, taken without waiting: another host holding
        it does the chore; a host that dies drops it with its connection."""
        key = f"dispatcher chore {self.schema} {name}"
        row = self.conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS got", (key,)).fetchone()
        got = bool(row and row["got"])
        try:
            yield got
        finally:
            if got:
                self.conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    @contextmanager
    def write(self) -> Iterator[PgConnection]:
        with self.conn.transaction():
            yield self.conn

    def apply_schema(self) -> None:
        apply_schema(self.conn, self.schema)

    def require_endpoint(self, endpoint_id: int | None) -> None:
        if endpoint_id is None:
            return
        if self.conn.execute("SELECT 1 FROM endpoints WHERE id = %s", (endpoint_id,)).fetchone() is None:
            raise NotFound(f"no endpoint {endpoint_id}")

    def answers(self) -> bool:
        try:
            self.conn.execute("SELECT version FROM dispatcher_schema").fetchall()
        except psycopg.Error:
            return False
        return True

    def schema_version(self) -> int | None:
        row: dict[str, Any] | None = self.conn.execute(
            "SELECT to_regclass('dispatcher_schema') IS NOT NULL AS present"
        ).fetchone()
        if row is None or not row["present"]:
            return None
        version = self.conn.execute("SELECT max(version) AS version FROM dispatcher_schema").fetchone()
        return int(version["version"] or 0) if version else 0

    def maintain(self) -> None:
        """Nothing to do: autovacuum reclaims what pruning deleted, without blocking anyone."""
