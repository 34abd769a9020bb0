"""Statements of the producer and admin side: events, endpoints, config."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NotFound
from ..models import Endpoint, RetiredSecret
from .connection import Connection
from .rows import endpoint_from_row, endpoint_row


class Producing(Connection):
    # --- config ---------------------------------------------------------------

    def config(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.db.query("SELECT key, value FROM config")}

    def set_config(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
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

    # --- endpoints ------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int:
        table = self.db.table("endpoints")
        table.insert(endpoint_row(fields))
        return int(table.last_pk or 0)

    def update_endpoint(self, endpoint_id: int, fields: dict[str, Any]) -> None:
        row = endpoint_row(fields)
        if not row:
            self.endpoint(endpoint_id)
            return
        assignments = ", ".join(f"{column} = :{column}" for column in row)
        cursor = self.db.execute(f"UPDATE endpoints SET {assignments} WHERE id = :id", {**row, "id": endpoint_id})
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def replace_secret(self, endpoint_id: int, secret: str, retired: Sequence[RetiredSecret]) -> None:
        cursor = self.db.execute(
            "UPDATE endpoints SET secret = ?, retired_secrets = ? WHERE id = ?",
            (secret, json.dumps([{"secret": old.secret, "until": old.until} for old in retired]), endpoint_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def endpoint(self, endpoint_id: int) -> Endpoint:
        rows = list(self.db.query("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)))
        if not rows:
            raise NotFound(f"no endpoint {endpoint_id}")
        return endpoint_from_row(rows[0])

    def endpoints(self) -> list[Endpoint]:
        return [endpoint_from_row(row) for row in self.db.query("SELECT * FROM endpoints ORDER BY id")]

    def enable_endpoint(self, endpoint_id: int, now: str) -> None:
        """Resume an endpoint with a clean failure count; a retry it was waiting for is due at once."""
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE endpoints SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, "
                "consecutive_failures = 0 WHERE id = ?",
                (endpoint_id,),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no endpoint {endpoint_id}")
            conn.execute(
                "UPDATE batches SET due_at = ? WHERE endpoint_id = ? AND state = 'pending' AND due_at > ?",
                (now, endpoint_id, now),
            )

    def disable_endpoint(self, endpoint_id: int, reason: str, now: str) -> None:
        cursor = self.db.execute(
            "UPDATE endpoints SET enabled = 0, disabled_reason = ?, disabled_at = ? WHERE id = ?",
            (reason, now, endpoint_id),
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")

    def delete_endpoint(self, endpoint_id: int) -> None:
        with self.write() as conn:
            cursor = conn.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))
        if cursor.rowcount == 0:
            raise NotFound(f"no endpoint {endpoint_id}")
