"""dispatcher.endpoints against a real SQLite file."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.errors import DispatcherError, NotFound
from dispatcher.settings import defaults_from
from dispatcher.store import Store

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JSON_KEYS = [
    "id",
    "name",
    "url",
    "events",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "order",
    "batch_size",
    "timeout",
    "max_attempts",
    "created_at",
]


def endpoint_count(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM endpoints").fetchone()[0])


def test_add_with_defaults(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    assert endpoint.url == "https://example.com/hook"
    assert endpoint.name is None
    assert endpoint.events == ("*",)
    assert endpoint.enabled is True
    assert endpoint.disabled_reason is None and endpoint.disabled_at is None
    # No overrides: every setting follows the global config.
    assert (endpoint.order, endpoint.batch_size, endpoint.timeout, endpoint.max_attempts) == (None,) * 4
    assert TIMESTAMP.match(endpoint.created_at)


def test_add_generates_a_strong_secret_per_endpoint(store: Store) -> None:
    first = endpoints.add(store, "https://example.com/a")
    second = endpoints.add(store, "https://example.com/b")
    assert len(first.secret) >= 32
    assert first.secret != second.secret


def test_add_with_every_option(store: Store, db_path: Path) -> None:
    endpoint = endpoints.add(
        store,
        "http://localhost:8080/in?x=1",
        name="crm",
        events=["lead.*", " order.paid "],
        secret="my-secret",
        order="desc",
        batch_size=50,
        timeout=2.5,
        max_attempts=3,
    )
    reread = store.endpoint(endpoint.id)
    assert reread == endpoint
    assert reread.name == "crm"
    assert reread.url == "http://localhost:8080/in?x=1"
    assert reread.events == ("lead.*", "order.paid")
    assert reread.secret == "my-secret"
    assert (reread.order, reread.batch_size, reread.timeout, reread.max_attempts) == ("desc", 50, 2.5, 3)
    assert endpoint_count(db_path) == 1


def test_add_assigns_increasing_ids(store: Store) -> None:
    ids = [endpoints.add(store, f"https://example.com/{i}").id for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "http://", "https:///path", "not a url", "", "example.com/hook", "mailto:a@b.c"],
)
def test_invalid_url_is_refused_and_nothing_inserted(store: Store, db_path: Path, url: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        endpoints.add(store, url)
    assert repr(url) in str(caught.value)
    assert endpoint_count(db_path) == 0


@pytest.mark.parametrize(
    "options",
    [
        {"events": []},
        {"events": [""]},
        {"events": ["lead.*", "  "]},
        {"secret": ""},
        {"order": "sideways"},
        {"batch_size": 0},
        {"timeout": 0.0},
        {"max_attempts": 0},
    ],
)
def test_invalid_options_are_refused_and_nothing_inserted(
    store: Store, db_path: Path, options: dict[str, object]
) -> None:
    with pytest.raises(DispatcherError):
        endpoints.add(store, "https://example.com/hook", **options)  # type: ignore[arg-type]
    assert endpoint_count(db_path) == 0


def test_update_changes_only_the_given_settings(store: Store) -> None:
    before = endpoints.add(store, "https://example.com/hook", name="crm", events=["lead.*"], batch_size=5)
    after = endpoints.update(store, before.id, batch_size=20, timeout=4.0)
    assert after.batch_size == 20
    assert after.timeout == 4.0
    # Everything else is exactly as it was, the secret included.
    assert after == replace(before, batch_size=20, timeout=4.0)


def test_update_only_touches_the_named_endpoint(store: Store) -> None:
    one = endpoints.add(store, "https://example.com/1")
    two = endpoints.add(store, "https://example.com/2")
    endpoints.update(store, one.id, url="https://example.org/new", events=["a.*"])
    assert store.endpoint(one.id).url == "https://example.org/new"
    assert store.endpoint(one.id).events == ("a.*",)
    assert store.endpoint(two.id) == two


def test_update_to_none_returns_a_setting_to_the_global_default(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", order="desc", max_attempts=3)
    updated = endpoints.update(store, endpoint.id, order=None)
    assert updated.order is None
    assert updated.max_attempts == 3


def test_update_with_invalid_value_changes_nothing(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    with pytest.raises(DispatcherError):
        endpoints.update(store, endpoint.id, url="ftp://example.com", batch_size=3)
    assert store.endpoint(endpoint.id) == endpoint


def test_update_unknown_setting_is_refused(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    with pytest.raises(DispatcherError) as caught:
        endpoints.update(store, endpoint.id, colour="red")
    assert "colour" in str(caught.value)
    with pytest.raises(DispatcherError):
        endpoints.update(store, endpoint.id, enabled=False)
    assert store.endpoint(endpoint.id) == endpoint


def test_update_missing_endpoint_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        endpoints.update(store, 999, batch_size=3)


def test_disable_records_reason_and_time(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    disabled = endpoints.disable(store, endpoint.id, clock.now(), reason="410 Gone")
    assert disabled.enabled is False
    assert disabled.disabled_reason == "410 Gone"
    assert disabled.disabled_at == "2026-11-22T10:00:00.000Z"
    assert store.endpoint(endpoint.id) == disabled


def test_disable_has_a_default_reason(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    disabled = endpoints.disable(store, endpoint.id, clock.now())
    assert disabled.enabled is False
    assert disabled.disabled_reason


def test_disable_time_is_stored_in_utc(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    amsterdam = timezone(timedelta(hours=1))
    disabled = endpoints.disable(store, endpoint.id, datetime(2026, 11, 22, 11, 30, 0, 250_000, tzinfo=amsterdam))
    assert disabled.disabled_at == "2026-11-22T10:30:00.250Z"


def test_enable_clears_reason_and_time(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    endpoints.disable(store, endpoint.id, clock.now(), reason="maintenance")
    enabled = endpoints.enable(store, endpoint.id)
    assert enabled.enabled is True
    assert enabled.disabled_reason is None
    assert enabled.disabled_at is None
    assert enabled == endpoint


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_disable_missing_endpoint_is_not_found(store: Store, clock: ManualClock, action: str) -> None:
    with pytest.raises(NotFound):
        if action == "enable":
            endpoints.enable(store, 42)
        else:
            endpoints.disable(store, 42, clock.now())


def test_as_json_keys(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="hidden")
    data = endpoints.as_json(endpoint, defaults_from(store.config()))
    assert list(data) == JSON_KEYS
    assert "hidden" not in data.values()


def test_as_json_shows_the_secret_only_on_request(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="hidden")
    data = endpoints.as_json(endpoint, defaults_from(store.config()), show_secret=True)
    assert list(data) == [*JSON_KEYS, "secret"]
    assert data["secret"] == "hidden"


def test_as_json_values(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", name="crm", events=["a.*", "b.x"])
    endpoint = endpoints.disable(store, endpoint.id, clock.now(), reason="paused")
    data = endpoints.as_json(endpoint, defaults_from(store.config()))
    assert data == {
        "id": endpoint.id,
        "name": "crm",
        "url": "https://example.com/hook",
        "events": ["a.*", "b.x"],
        "enabled": False,
        "disabled_reason": "paused",
        "disabled_at": "2026-11-22T10:00:00.000Z",
        "order": "asc",
        "batch_size": 10,
        "timeout": 15.0,
        "max_attempts": 8,
        "created_at": endpoint.created_at,
    }


def test_as_json_shows_effective_settings(store: Store) -> None:
    store.set_config("batch_size", "25")
    store.set_config("timeout", "30s")
    store.set_config("order", "desc")
    inherits = endpoints.add(store, "https://example.com/inherits")
    overrides = endpoints.add(store, "https://example.com/overrides", batch_size=5, order="asc")
    defaults = defaults_from(store.config())

    inherited = endpoints.as_json(inherits, defaults)
    assert (inherited["order"], inherited["batch_size"], inherited["timeout"], inherited["max_attempts"]) == (
        "desc",
        25,
        30.0,
        8,
    )
    overridden = endpoints.as_json(overrides, defaults)
    assert (overridden["order"], overridden["batch_size"], overridden["timeout"], overridden["max_attempts"]) == (
        "asc",
        5,
        30.0,
        8,
    )
