"""Statements of who may use the HTTP API and the admin UI: API keys and admin sessions.

Keys and session tokens are stored only as their SHA-256; see :mod:`dispatcher.api_keys`.
"""

from __future__ import annotations

from datetime import datetime

from ...access_models import ApiKey, WebSession
from ...clock import from_text, to_text
from ...errors import NotFound
from .connection import Connection

_KEY_COLUMNS = "id, name, read_only, created_at, last_used_at"


class Access(Connection):
    def insert_api_key(self, name: str | None, key_sha256: str, read_only: bool, now: datetime) -> ApiKey:
        with self.write() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (name, key_sha256, read_only, created_at) VALUES (?, ?, ?, ?) "
                f"RETURNING {_KEY_COLUMNS}",
                (name, key_sha256, int(read_only), to_text(now)),
            ).fetchone()
        return _api_key(row)

    def api_keys(self) -> list[ApiKey]:
        return [_api_key(row) for row in self.conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")]

    def count_api_keys(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM api_keys").fetchone()[0])

    def delete_api_key(self, key_id: int) -> None:
        with self.write() as conn:
            if not conn.execute("DELETE FROM api_keys WHERE id = ? RETURNING id", (key_id,)).fetchone():
                raise NotFound(f"no API key {key_id}")

    def api_key_by_hash(self, key_sha256: str) -> tuple[ApiKey, str] | None:
        row = self.conn.execute(
            f"SELECT {_KEY_COLUMNS}, key_sha256 FROM api_keys WHERE key_sha256 = ?", (key_sha256,)
        ).fetchone()
        return None if row is None else (_api_key(row[:5]), row[5])

    def mark_api_key_used(self, key_id: int, now: datetime) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < strftime('%Y-%m-%dT%H:%M:%fZ', ?, '-60 seconds'))",
                (to_text(now), key_id, to_text(now)),
            )

    def insert_web_session(
        self, token_sha256: str, key_id: int, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None:
        with self.write() as conn:
            # Expired sessions go as new ones come: there is no other sweep.
            conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (to_text(now),))
            conn.execute(
                "INSERT INTO web_sessions (token_sha256, api_key_id, csrf_token, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_sha256, key_id, csrf_token, to_text(now), to_text(expires_at)),
            )

    def web_session(self, token_sha256: str, now: datetime) -> WebSession | None:
        row = self.conn.execute(
            f"SELECT s.csrf_token, s.expires_at, {', '.join('k.' + c for c in _KEY_COLUMNS.split(', '))} "
            "FROM web_sessions AS s JOIN api_keys AS k ON k.id = s.api_key_id "
            "WHERE s.token_sha256 = ? AND s.expires_at > ?",
            (token_sha256, to_text(now)),
        ).fetchone()
        return (
            None if row is None else WebSession(key=_api_key(row[2:]), csrf_token=row[0], expires_at=from_text(row[1]))
        )

    def delete_web_session(self, token_sha256: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_sha256 = ?", (token_sha256,))


def _api_key(row: tuple[int, str | None, int, str, str | None]) -> ApiKey:
    key_id, name, read_only, created_at, last_used_at = row
    return ApiKey(
        id=key_id,
        name=name,
        read_only=bool(read_only),
        created_at=from_text(created_at),
        last_used_at=None if last_used_at is None else from_text(last_used_at),
    )
