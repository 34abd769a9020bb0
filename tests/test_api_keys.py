"""API keys and admin sessions in the library: checked by hash, used-at written rarely, revocable."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import api_keys
from dispatcher.clock import ManualClock
from dispatcher.store import Store


def test_a_key_authenticates_and_a_wrong_or_revoked_one_does_not(store: Store, clock: ManualClock) -> None:
    made = api_keys.create(store, clock.now(), "ci")
    found = api_keys.authenticate(store, made.text, clock.now())
    assert found is not None and (found.id, found.name, found.read_only) == (made.key.id, "ci", False)
    assert api_keys.authenticate(store, made.text + "x", clock.now()) is None
    assert api_keys.authenticate(store, "", clock.now()) is None
    api_keys.revoke(store, made.key.id)
    assert api_keys.authenticate(store, made.text, clock.now()) is None


def test_last_use_is_written_at_most_once_a_minute(store: Store, clock: ManualClock) -> None:
    made = api_keys.create(store, clock.now())
    first = clock.now()
    api_keys.authenticate(store, made.text, first)
    changes = store.conn.total_changes
    clock.advance(59)
    api_keys.authenticate(store, made.text, clock.now())
    assert store.conn.total_changes == changes  # no write at all within the minute
    assert store.api_keys()[0].last_used_at == first
    clock.advance(2)
    api_keys.authenticate(store, made.text, clock.now())
    assert store.api_keys()[0].last_used_at == clock.now()


def test_a_session_lasts_until_logout_expiry_or_revocation(store: Store, clock: ManualClock) -> None:
    made = api_keys.create(store, clock.now(), read_only=True)
    login = api_keys.log_in(store, made.text, clock.now())
    session = api_keys.session(store, login.token, clock.now())
    assert session is not None and session.key.read_only and session.csrf_token == login.csrf_token
    api_keys.log_out(store, login.token)
    assert api_keys.session(store, login.token, clock.now()) is None

    again = api_keys.log_in(store, made.text, clock.now())
    clock.advance(timedelta(hours=api_keys.SESSION_HOURS, seconds=1).total_seconds())
    assert api_keys.session(store, again.token, clock.now()) is None

    third = api_keys.log_in(store, made.text, clock.now())
    api_keys.revoke(store, made.key.id)
    assert api_keys.session(store, third.token, clock.now()) is None


def test_csrf_tokens_compare_exactly() -> None:
    assert api_keys.csrf_matches("abc", "abc")
    assert not api_keys.csrf_matches("abc", "abd")
    assert not api_keys.csrf_matches("abc", None)
    assert not api_keys.csrf_matches("abc", "")
