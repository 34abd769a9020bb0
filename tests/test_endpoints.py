"""dispatcher.endpoints and dispatcher.endpoint_view against a real SQLite file."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dispatcher import endpoint_view, endpoints
from dispatcher.clock import ManualClock, from_text, to_text
from dispatcher.config import defaults_from
from dispatcher.errors import DispatcherError, NotFound
from dispatcher.models import RetiredSecret, Signing
from dispatcher.store import Store

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
JSON_KEYS = [
    "id",
    "name",
    "description",
    "url",
    "events",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "order",
    "batch_size",
    "timeout",
    "max_attempts",
    "retry",
    "max_age",
    "disable_after",
    "concurrency",
    "rate_limit",
    "notify_command",
    "format",
    "signature",
    "signature_header",
    "signature_prefix",
    "headers",
    "success",
    "allow_private",
    "ca_bundle",
    "retired_secrets",
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
    assert TIMESTAMP.match(to_text(endpoint.created_at))


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
        {"name": "crm\nid: 2"},
        {"name": "crm\x1b[2J"},
        {"name": "crm\u2028"},
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


def test_update_refuses_a_name_with_a_line_break(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", name="crm")
    with pytest.raises(DispatcherError, match=r"^invalid name 'a\\rb': no control characters or line breaks$"):
        endpoints.update(store, endpoint.id, name="a\rb")
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
    assert disabled.disabled_at == from_text("2026-11-22T10:00:00.000Z")
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
    assert disabled.disabled_at == from_text("2026-11-22T10:30:00.250Z")


def test_enable_clears_reason_and_time(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    endpoints.disable(store, endpoint.id, clock.now(), reason="maintenance")
    enabled = endpoints.enable(store, endpoint.id, clock.now())
    assert enabled.enabled is True
    assert enabled.disabled_reason is None
    assert enabled.disabled_at is None
    assert enabled == endpoint


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_disable_missing_endpoint_is_not_found(store: Store, clock: ManualClock, action: str) -> None:
    with pytest.raises(NotFound):
        if action == "enable":
            endpoints.enable(store, 42, clock.now())
        else:
            endpoints.disable(store, 42, clock.now())


def test_as_json_keys(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="hidden")
    data = endpoint_view.as_json(endpoint, defaults_from(store.config()))
    assert list(data) == JSON_KEYS
    assert "hidden" not in data.values()


def test_as_json_shows_the_secret_only_on_request(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="hidden")
    data = endpoint_view.as_json(endpoint, defaults_from(store.config()), show_secret=True)
    assert list(data) == [*JSON_KEYS, "secret"]
    assert data["secret"] == "hidden"


def test_as_json_values(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", name="crm", events=["a.*", "b.x"])
    endpoint = endpoints.disable(store, endpoint.id, clock.now(), reason="paused")
    data = endpoint_view.as_json(endpoint, defaults_from(store.config()))
    assert data == {
        "id": endpoint.id,
        "name": "crm",
        "description": None,
        "url": "https://example.com/hook",
        "events": ["a.*", "b.x"],
        "enabled": False,
        "disabled_reason": "paused",
        "disabled_at": "2026-11-22T10:00:00.000Z",
        "order": "asc",
        "batch_size": 10,
        "timeout": 15.0,
        "max_attempts": 8,
        "retry": "schedule:5s,5m,30m,2h,5h,10h,10h",
        "max_age": None,
        "disable_after": 20,
        "concurrency": 1,
        "rate_limit": None,
        "notify_command": None,
        "format": "batch",
        "signature": "mautic",
        "signature_header": "Webhook-Signature",
        "signature_prefix": "",
        "headers": {},
        "success": "2xx",
        "allow_private": True,  # in force: the test database's global setting
        "ca_bundle": None,
        "retired_secrets": [],
        "created_at": to_text(endpoint.created_at),
    }


def test_as_json_shows_effective_settings(store: Store) -> None:
    store.set_config("batch_size", "25")
    store.set_config("timeout", "30s")
    store.set_config("order", "desc")
    inherits = endpoints.add(store, "https://example.com/inherits")
    overrides = endpoints.add(store, "https://example.com/overrides", batch_size=5, order="asc")
    defaults = defaults_from(store.config())

    inherited = endpoint_view.as_json(inherits, defaults)
    assert (inherited["order"], inherited["batch_size"], inherited["timeout"], inherited["max_attempts"]) == (
        "desc",
        25,
        30.0,
        8,
    )
    overridden = endpoint_view.as_json(overrides, defaults)
    assert (overridden["order"], overridden["batch_size"], overridden["timeout"], overridden["max_attempts"]) == (
        "asc",
        5,
        30.0,
        8,
    )


# --- the wire contract ------------------------------------------------------------


def test_add_keeps_today_s_defaults_for_the_wire(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    assert (endpoint.format, endpoint.signing, endpoint.headers, endpoint.success) == ("batch", Signing(), (), "2xx")


def test_add_with_a_seed_system_s_wire_contract(store: Store) -> None:
    endpoint = endpoints.add(
        store,
        "https://example.com/leasecloud",
        format="raw",
        signature="timestamped",
        signature_header="LeaseCloud-Signature",
        headers=["LeaseCloud-Version: 1.0.0"],
        success="200",
    )
    assert store.endpoint(endpoint.id) == endpoint
    assert endpoint.format == "raw"
    assert endpoint.signing == Signing("timestamped", "LeaseCloud-Signature", "")
    assert endpoint.headers == (("LeaseCloud-Version", "1.0.0"),)
    assert endpoint.success == "200"
    data = endpoint_view.as_json(endpoint, defaults_from(store.config()))
    assert data["headers"] == {"LeaseCloud-Version": "1.0.0"}  # an object, as the API has it
    assert data["signature_header"] == "LeaseCloud-Signature"
    assert data["batch_size"] == 1  # raw: one event per request


def test_the_standard_scheme_gets_a_whsec_secret(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="standard")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint_view.as_json(endpoint, defaults_from(store.config()))["signature_header"] == "webhook-signature"


@pytest.mark.parametrize(
    "options",
    [
        {"format": "xml"},
        {"signature": "md5"},
        {"signature": "standard", "secret": "not-whsec"},
        {"signature": "standard", "signature_header": "X-Sig"},
        {"signature_header": "Bad Header"},
        {"headers": ["no colon"]},
        {"headers": ["Webhook-Signature: forged"]},
        {"headers": ["X-A: 1", "x-a: 2"]},
        {"success": "3xx"},
    ],
)
def test_invalid_wire_options_are_refused_and_nothing_inserted(
    store: Store, db_path: Path, options: dict[str, object]
) -> None:
    with pytest.raises(DispatcherError):
        endpoints.add(store, "https://example.com/hook", **options)
    assert endpoint_count(db_path) == 0


def test_update_checks_the_endpoint_as_a_whole(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="plain", headers=["X-Signature: a"])
    # The fixed header would now collide with the signature header.
    with pytest.raises(DispatcherError, match="sets it itself"):
        endpoints.update(store, endpoint.id, signature="hex", signature_header="X-Signature")
    # The secret does not suit the standard scheme, and no new one was given.
    with pytest.raises(DispatcherError, match="secret does not suit the standard scheme"):
        endpoints.update(store, endpoint.id, signature="standard")
    assert store.endpoint(endpoint.id) == endpoint
    updated = endpoints.update(store, endpoint.id, signature="standard", secret="whsec_" + "QUJD" * 8, headers=[])
    assert updated.signing.scheme == "standard" and updated.headers == ()


def test_update_with_an_empty_signature_header_returns_to_the_scheme_s_own(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="hex", signature_header="X-Custom")
    updated = endpoints.update(store, endpoint.id, signature_header="")
    assert updated.signing.header is None
    assert endpoint_view.as_json(updated, defaults_from(store.config()))["signature_header"] == "X-Webhook-Signature"


# --- secret rotation -----------------------------------------------------------------


def test_rotation_keeps_the_old_secret_signing_for_the_grace_period(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="timestamped", secret="old")
    rotated, until = endpoints.rotate_secret(store, endpoint.id, clock.now(), grace=3600)
    assert rotated.secret != "old" and len(rotated.secret) >= 32
    assert until == from_text("2026-11-22T11:00:00.000Z")
    assert rotated.retired_secrets == (RetiredSecret("old", until),)
    data = endpoint_view.as_json(rotated, defaults_from(store.config()))
    assert data["retired_secrets"] == [{"until": to_text(until)}]  # never the secret itself unless asked


def test_rotation_for_a_one_signature_scheme_says_the_old_secret_stops(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="old")
    rotated, until = endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="new")
    assert (rotated.secret, until) == ("new", None)


def test_a_second_rotation_keeps_secrets_still_in_grace_newest_first(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="timestamped", secret="one")
    endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="two", grace=600)
    clock.advance(300)
    rotated, _ = endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="three", grace=600)
    assert [old.secret for old in rotated.retired_secrets] == ["two", "one"]
    clock.advance(400)  # "one" has expired by now
    rotated, _ = endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="four", grace=0)
    assert [old.secret for old in rotated.retired_secrets] == ["two"]


def test_a_new_scheme_drops_the_secrets_retired_under_the_old_one(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="timestamped", secret="one")
    endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="two", grace=600)
    # "one" does not suit the standard scheme; kept, it would leave requests unsignable until it expired.
    updated = endpoints.update(
        store, endpoint.id, signature="standard", secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    )
    assert updated.retired_secrets == ()
    # Any other change keeps them.
    endpoints.rotate_secret(store, endpoint.id, clock.now(), grace=600)
    assert len(endpoints.update(store, endpoint.id, batch_size=5).retired_secrets) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret": "same"}, "is the current one"),
        ({"grace": -1}, "invalid grace"),
        ({"grace": 40 * 86400}, "invalid grace"),
        ({"secret": ""}, "secret"),
    ],
)
def test_invalid_rotations_change_nothing(
    store: Store, clock: ManualClock, options: dict[str, Any], message: str
) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", secret="same")
    with pytest.raises(DispatcherError, match=message):
        endpoints.rotate_secret(store, endpoint.id, clock.now(), **options)
    assert store.endpoint(endpoint.id) == endpoint


def test_rotation_of_a_standard_endpoint_refuses_a_secret_of_another_form(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", signature="standard")
    with pytest.raises(DispatcherError, match="whsec_") as caught:
        endpoints.rotate_secret(store, endpoint.id, clock.now(), secret="plain-text-secret")
    assert "plain-text-secret" not in str(caught.value)
    rotated, _ = endpoints.rotate_secret(store, endpoint.id, clock.now())
    assert rotated.secret.startswith("whsec_")


def test_none_returns_a_wire_setting_to_its_default(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", format=None, signature="hex", success="200")
    assert endpoint.format == "batch"
    updated = endpoints.update(store, endpoint.id, signature=None, success=None, headers=None)
    assert (updated.signing.scheme, updated.success, updated.headers) == ("mautic", "2xx", ())


@pytest.mark.parametrize("setting", ["url", "secret"])
def test_url_and_secret_cannot_be_unset(store: Store, setting: str) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    with pytest.raises(DispatcherError, match="invalid"):
        endpoints.update(store, endpoint.id, **{setting: None})
    assert store.endpoint(endpoint.id) == endpoint


# --- read-modify-write in one store call ----------------------------------------------

ROTATE_MANY = """
import sys
from datetime import UTC, datetime
from dispatcher import endpoints
from dispatcher.store import open_store

store = open_store(sys.argv[1], create=False)
for _ in range(int(sys.argv[2])):
    endpoints.rotate_secret(store, 1, datetime.now(UTC), grace=3600)
store.close()
"""


@pytest.mark.slow
def test_rotations_from_two_processes_at_once_retire_every_secret(db_path: Path, store: Store) -> None:
    """Each rotation reads the secrets and writes them back in one transaction: none is lost to
    another process rotating at the same moment."""
    first = endpoints.add(store, "https://example.com/hook", signature="timestamped")
    rotations = 40
    runs = [subprocess.Popen([sys.executable, "-c", ROTATE_MANY, str(db_path), str(rotations)]) for _ in range(2)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    endpoint = store.endpoint(first.id)
    retired = [old.secret for old in endpoint.retired_secrets]
    assert len(retired) == len(set(retired)) == 2 * rotations
    assert first.secret in retired and endpoint.secret not in retired


def test_a_change_that_raises_leaves_the_endpoint_as_it_was(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", name="crm")

    def half_done(current: Any) -> Any:
        raise DispatcherError("refused halfway")

    with pytest.raises(DispatcherError, match="refused halfway"):
        store.change_endpoint(endpoint.id, half_done)
    assert store.endpoint(endpoint.id) == endpoint
