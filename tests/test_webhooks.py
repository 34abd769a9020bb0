"""dispatcher.webhooks and its store statements: endpoints in the seed API's terms."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints, ping, webhooks
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import defaults_from
from dispatcher.errors import DispatcherError, NotFound
from dispatcher.producer import Queue
from dispatcher.store import Store

from .factories import make_endpoint

URL = "https://example.com/hook"


def test_create_takes_the_seed_s_fields_and_makes_a_whsec_secret(any_store: Store) -> None:
    made = webhooks.create(
        any_store, URL, description="Production webhook endpoint", events=["new_lead", "lead_update"], max_retries=5
    )
    assert made.max_attempts == 6
    assert made.secret.startswith("whsec_")
    assert made.signing.scheme == "mautic"  # the key is then the whole string
    shown = webhooks.as_json(any_store.endpoint(made.id), defaults_from(any_store.config()), show_secret=True)
    assert shown["description"] == "Production webhook endpoint"
    assert shown["events"] == ["new_lead", "lead_update"]
    assert (shown["is_active"], shown["max_retries"], shown["secret"]) == (True, 5, made.secret)


def test_the_json_has_no_secret_unless_asked_and_no_url_login(any_store: Store) -> None:
    made = webhooks.create(any_store, "https://user:pw@example.com/hook", headers={"X-Partner": "7"})
    shown = webhooks.as_json(made, defaults_from(any_store.config()))
    assert "secret" not in shown
    assert made.secret not in repr(shown)
    assert shown["url"] == "https://example.com/hook"
    assert shown["headers"] == {"X-Partner": "7"}


def test_max_retries_and_max_attempts_together_are_refused(any_store: Store) -> None:
    with pytest.raises(DispatcherError, match="max_retries or max_attempts"):
        webhooks.create(any_store, URL, max_retries=2, max_attempts=3)
    with pytest.raises(DispatcherError, match="invalid max_retries -1: use 0 to 999"):
        webhooks.create(any_store, URL, max_retries=-1)
    assert any_store.endpoints() == []


def test_a_bad_description_is_refused_before_anything_is_stored(any_store: Store) -> None:
    with pytest.raises(DispatcherError, match="1000"):
        webhooks.create(any_store, URL, description="x" * 1001)
    with pytest.raises(DispatcherError, match="control characters"):
        webhooks.create(any_store, URL, description="a\x1b[2Jb")
    assert any_store.endpoints() == []


def test_change_sets_the_given_fields_and_none_resets(any_store: Store, clock: ManualClock) -> None:
    made = webhooks.create(any_store, URL, description="old", max_retries=3, batch_size=5)
    changed = webhooks.change(any_store, made.id, clock.now(), description="new", max_retries=None)
    assert changed.description == "new"
    assert changed.max_attempts is None  # follows the global setting again
    assert changed.batch_size == 5
    cleared = webhooks.change(any_store, made.id, clock.now(), description=None)
    assert cleared.description is None
    with pytest.raises(NotFound):
        webhooks.change(any_store, 999, clock.now(), description="x")
    with pytest.raises(NotFound):
        webhooks.change(any_store, 999, clock.now(), batch_size=2)


def test_rotate_makes_a_whsec_secret_and_reads_the_grace_as_text_or_seconds(
    any_store: Store, clock: ManualClock
) -> None:
    made = webhooks.create(any_store, URL, signature="standard")
    rotated, until = webhooks.rotate_secret(any_store, made.id, clock.now(), grace="1h")
    assert rotated.secret.startswith("whsec_") and rotated.secret != made.secret
    assert until == from_text("2026-11-22T11:00:00.000Z")
    _, until = webhooks.rotate_secret(any_store, made.id, clock.now(), grace=60)
    assert until == from_text("2026-11-22T10:01:00.000Z")
    with pytest.raises(DispatcherError, match="invalid duration"):
        webhooks.rotate_secret(any_store, made.id, clock.now(), grace="soon")
    secrets = webhooks.secrets_of(any_store.endpoint(made.id))
    assert len(secrets["retired_secrets"]) == 2


def test_pages_follow_ids_and_carry_descriptions(any_store: Store) -> None:
    ids = [webhooks.create(any_store, URL, description=f"d{n}").id for n in range(5)]
    first = any_store.endpoints_after(None, 2)
    assert [(item.id, item.description) for item in first] == [(ids[0], "d0"), (ids[1], "d1")]
    assert [item.id for item in any_store.endpoints_after(ids[1], 10)] == ids[2:]


def test_health_says_enabled_failing_or_disabled(any_store: Store, clock: ManualClock) -> None:
    made = webhooks.create(any_store, URL)
    assert webhooks.health(made) == ("enabled", None)
    disabled = endpoints.disable(any_store, made.id, clock.now(), "too many failures")
    assert webhooks.health(disabled) == ("disabled", "too many failures")
    failing = make_endpoint(consecutive_failures=2, last_error="HTTP 500")
    assert webhooks.health(failing) == ("failing", "2 failed in a row: HTTP 500")


def test_event_types_are_the_distinct_recent_ones(any_store: Store) -> None:
    queue = Queue(any_store)
    for event_type in ["lead.b", "lead.a", "lead.b", "Order.refunded", "order.paid"]:
        queue.enqueue(event_type, {"n": 1})
    # By code point, as SQLite sorts, whatever collation a PostgreSQL database has.
    assert any_store.event_types() == ["Order.refunded", "lead.a", "lead.b", "order.paid"]
    assert any_store.event_types(recent=1) == ["order.paid"]
    assert any_store.event_types(limit=2) == ["Order.refunded", "lead.a"]


def test_a_test_report_has_the_receiver_s_answer(store: Store, clock: ManualClock, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("<b>nope</b>", status=418, headers={"X-Why": "tea"})
    made = webhooks.create(store, httpserver.url_for("/hook"))
    report = webhooks.test_report(ping.send_test(store, made.id, clock))
    assert report["ok"] is False and report["status_code"] == 418
    assert report["headers"]["X-Why"] == "tea"
    assert report["body"] == "<b>nope</b>"
