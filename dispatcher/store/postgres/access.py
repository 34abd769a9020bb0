"""Statements of who may use the HTTP API and the admin UI: API keys and admin sessions.

Keys and session tokens are stored only as their SHA-256; see :mod:`dispatcher.api_keys`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ...access_models import ApiKey, WebSession
from ...errors import NotFound
from ..rows import as_time, time_or_none
from .connection import Connection

_KEY_COLUMNS = "id, name, read_only, created_at, last_used_at"
# How often a key's last use is written: not a write per request.
_USE_GRAIN = timedelta(seconds=60)


class Access(Connection):
    def insert_api_key(self, name: str | None, key_sha256: str, read_only: bool, now: datetime) -> ApiKey:
        row = self.conn.execute(
            f"INSERT INTO api_keys (name, key_sha256, read_only, created_at) VALUES (%s, %s, %s, %s) "
            f"RETURNING {_KEY_COLUMNS}",
            (name, key_sha256, read_only, now),
        ).fetchone()
        assert row is not None
        return _api_key(row)

    def api_keys(self) -> list[ApiKey]:
        return [_api_key(row) for row in self.conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")]

    def count_api_keys(self) -> int:
        row = self.conn.execute("SELECT count(*) AS n FROM api_keys").fetchone()
        return int(row["n"]) if row else 0

    def delete_api_key(self, key_id: int) -> None:
        if self.conn.execute("DELETE FROM api_keys WHERE id = %s", (key_id,)).rowcount == 0:
            raise NotFound(f"no API key {key_id}")

    def api_key_by_hash(self, key_sha256: str) -> tuple[ApiKey, str] | None:
        row = self.conn.execute(
            f"SELECT {_KEY_COLUMNS}, key_sha256 FROM api_keys WHERE key_sha256 = %s", (key_sha256,)
        ).fetchone()
        return None if row is None else (_api_key(row), row["key_sha256"])

    def mark_api_key_used(self, key_id: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE api_keys SET last_used_at = %s WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
            (now, key_id, now - _USE_GRAIN),
        )

    def insert_web_session(
        self, token_sha256: str, key_id: int, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None:
        with self.write() as conn:
            # Expired sessions go as new ones come: there is no other sweep.
            conn.execute("DELETE FROM web_sessions WHERE expires_at <= %s", (now,))
            conn.execute(
                "INSERT INTO web_sessions (token_sha256, api_key_id, csrf_token, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (token_sha256, key_id, csrf_token, now, expires_at),
            )

    def web_session(self, token_sha256: str, now: datetime) -> WebSession | None:
        row = self.conn.execute(
            f"SELECT s.csrf_token, s.expires_at, {', '.join('k.' + c for c in _KEY_COLUMNS.split(', '))} "
            "FROM web_sessions AS s JOIN api_keys AS k ON k.id = s.api_key_id "
            "WHERE s.token_sha256 = %s AND s.expires_at > %s",
            (token_sha256, now),
        ).fetchone()
        if row is None:
            return None
        return WebSession(key=_api_key(row), csrf_token=row["csrf_token"], expires_at=as_time(row["expires_at"]))

    def delete_web_session(self, token_sha256: str) -> None:
        self.conn.execute("DELETE FROM web_sessions WHERE token_sha256 = %s", (token_sha256,))


def _api_key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        read_only=row["read_only"],
        created_at=as_time(row["created_at"]),
        last_used_at=time_or_none(row["last_used_at"]),
    )
