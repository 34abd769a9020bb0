"""One PostgreSQL connection with the dispatcher's schema: reads in autocommit, writes in short
transactions, and the driver's errors turned into the store's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg.rows import DictRow, dict_row

from ...errors import NotFound
from .schema import apply_schema, channel, connect

PgConnection = psycopg.Connection[DictRow]


class Connection:
    """A connection in autocommit: a read is its own statement, and nothing stays open across an
    HTTP request. Read-then-write goes through :meth:`write`, one transaction that commits at the
    end of the block (or rolls back on an exception)."""

    def __init__(self, conn: PgConnection, schema: str) -> None:
        self.conn = conn
        self.schema = schema

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

    @contextmanager
    def write(self) -> Iterator[PgConnection]:
        with self.conn.transaction():
            yield self.conn

    def apply_schema(self) -> None:
        apply_schema(self.conn, self.schema)

    def require_endpoint(self, endpoint_id: int | None) -> None:
        """Refuse an endpoint id that names none: a mistyped filter must not pass for an empty result."""
        if endpoint_id is None:
            return
        if self.conn.execute("SELECT 1 FROM endpoints WHERE id = %s", (endpoint_id,)).fetchone() is None:
            raise NotFound(f"no endpoint {endpoint_id}")

    def answers(self) -> bool:
        """Whether the database can be read now (for a health check)."""
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
