"""API keys and admin logins: making, listing, revoking and checking them.

A key is 256 random bits. Only its SHA-256 is stored: a key is as strong as a random
password could ever be, so a slow password hash would add nothing but a cost per request.
A key is found by its hash, and the stored hash is then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from .access_models import ApiKey, WebSession
from .endpoint_settings import check_name
from .errors import DispatcherError
from .store import Store

# Keys are recognisable in a config file or a leaked log, as GitHub's and Stripe's are.
KEY_PREFIX = "dsp_"
# A key's last use is recorded at most this often: a write per request would halve the API's speed.
USED_EVERY = timedelta(minutes=1)
# An admin login lasts a working day; logging out or revoking the key ends it sooner.
SESSION_HOURS = 12


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time its text is known."""

    key: ApiKey
    text: str


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie's value
    csrf_token: str
    expires_at: datetime


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create(store: Store, now: datetime, name: str | None = None, read_only: bool = False) -> NewKey:
    if name is not None:
        check_name(name)
    text = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(store.insert_api_key(name, _sha256(text), read_only, now), text)


def revoke(store: Store, key_id: int) -> None:
    """Delete the key; every admin session made with it ends too."""
    store.delete_api_key(key_id)


def authenticate(store: Store, text: str, now: datetime) -> ApiKey | None:
    """The key ``text`` is, or None for a wrong or revoked one."""
    digest = _sha256(text)
    found = store.api_key_by_hash(digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        return None
    key = found[0]
    if key.last_used_at is None or key.last_used_at < now - USED_EVERY:
        store.mark_api_key_used(key.id, now)
    return key


def log_in(store: Store, text: str, now: datetime) -> NewSession:
    """An admin session for a valid key; a wrong one is refused."""
    key = authenticate(store, text, now)
    if key is None:
        raise DispatcherError("that is not a valid API key (make one with: dispatcher api-key create)")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SESSION_HOURS)
    store.insert_web_session(_sha256(token), key.id, csrf, now, expires)
    return NewSession(token, csrf, expires)


def session(store: Store, token: str, now: datetime) -> WebSession | None:
    """The live session the cookie ``token`` stands for, or None (expired, logged out, key revoked)."""
    return store.web_session(_sha256(token), now)


def log_out(store: Store, token: str) -> None:
    store.delete_web_session(_sha256(token))


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
