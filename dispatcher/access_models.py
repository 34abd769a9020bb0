"""The HTTP API's own records, as small frozen dataclasses: API keys, admin sessions, and the
answers kept for idempotent requests. No behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .clock import Time


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one request (the Idempotency-Key header), scoped to its API key."""

    api_key_id: int
    key: str
    request_sha256: str  # of the request's method, path and body: a repeat must be the same request


@dataclass(frozen=True)
class StoredAnswer:
    """An HTTP answer kept for an idempotency key, to answer a repeat with."""

    status: int
    body: str


@dataclass(frozen=True)
class ApiKey:
    """A key for the HTTP API and the admin UI, as listed: the key itself is never kept."""

    id: int
    name: str | None
    read_only: bool  # sees everything, changes nothing
    created_at: Time
    last_used_at: Time | None


@dataclass(frozen=True)
class WebSession:
    """An admin UI login: the key it was made with and the token every form must carry."""

    key: ApiKey
    csrf_token: str
    expires_at: Time
