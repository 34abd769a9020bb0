"""API keys and admin sessions in the library: checked by hash, used-at written rarely, revocable."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import api_keys
from dispatcher.clock import ManualClock
from dispatcher.store import Store

from .helpers import writes_seen


def test_a_key_authenticates_and_a_wrong_or_revoked_one_does_not(any_store: Store, clock: ManualClock) -> None:
    made = api_keys.create(any_store, clock.now(), "ci")
    found = api_keys.authenticate(any_store, made.text, clock.now())
    assert found is not None and (found.id, found.name, found.read_only) == (made.key.id, "ci", False)
    assert api_keys.authenticate(any_store, made.text + "x", clock.now()) is None
    assert api_keys.authenticate(any_store, "", clock.now()) is None
    api_keys.revoke(any_store, made.key.id)
    assert api_keys.authenticate(any_store, made.text, clock.now()) is None


def test_last_use_is_written_at_most_once_a_minute(any_store: Store, clock: ManualClock) -> None:
    made = api_keys.create(any_store, clock.now())
    first = clock.now()
    api_keys.authenticate(any_store, made.text, first)
    written = writes_seen(any_store, "api_keys", made.key.id)
    clock.advance(59)
    api_keys.authenticate(any_store, made.text, clock.now())
    assert writes_seen(any_store, "api_keys", made.key.id) == written  # no write at all within the minute
    assert any_store.api_keys()[0].last_used_at == first
    clock.advance(2)
    api_keys.authenticate(any_store, made.text, clock.now())
    assert any_store.api_keys()[0].last_used_at == clock.now()


def test_a_session_lasts_until_logout_expiry_or_revocation(any_store: Store, clock: ManualClock) -> None:
    made = api_keys.create(any_store, clock.now(), read_only=True)
    login = api_keys.log_in(any_store, made.text, clock.now())
    session = api_keys.session(any_store, login.token, clock.now())
    assert session is not None and session.key.read_only and session.csrf_token == login.csrf_token
    api_keys.log_out(any_store, login.token)
    assert api_keys.session(any_store, login.token, clock.now()) is None

    again = api_keys.log_in(any_store, made.text, clock.now())
    clock.advance(timedelta(hours=api_keys.SESSION_HOURS, seconds=1).total_seconds())
    assert api_keys.session(any_store, again.token, clock.now()) is None

    third = api_keys.log_in(any_store, made.text, clock.now())
    api_keys.revoke(any_store, made.key.id)
    assert api_keys.session(any_store, third.token, clock.now()) is None


def test_csrf_tokens_compare_exactly() -> None:
    assert api_keys.csrf_matches("abc", "abc")
    assert not api_keys.csrf_matches("abc", "abd")
    assert not api_keys.csrf_matches("abc", None)
    assert not api_keys.csrf_matches("abc", "")
