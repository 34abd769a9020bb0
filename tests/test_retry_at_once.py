"""A batch waiting for its retry goes at once when what made it fail is fixed, or on demand.

Real SQLite files throughout; the end-to-end test delivers to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import config, endpoints
from dispatcher.clock import ManualClock, SystemClock
from dispatcher.config import defaults_from
from dispatcher.errors import NotFound
from dispatcher.models import Outcome
from dispatcher.store import Store

from .helpers import Invoke, ok

RETRY_DELAY = timedelta(minutes=5)


def _waiting_batch(store: Store, now: datetime, **settings_: Any) -> int:
    """An endpoint whose one batch failed at ``now`` and waits RETRY_DELAY for its retry."""
    endpoint = endpoints.add(store, "https://example.com/hook", **settings_)
    store.insert_event("lead.created", "{}")
    claim = store.claim_batch(endpoint.id, "lease", now, defaults_from(store.config()))
    assert claim is not None
    failed = Outcome(ok=False, started_at=now, duration_ms=1, error="HTTP 401")
    assert store.record_outcome(claim[2], "lease", failed, now + RETRY_DELAY, now) is not None
    return endpoint.id


def _next_attempt(store: Store, endpoint_id: int, now: datetime) -> datetime | None:
    (row,) = [row for row in store.status(now) if row.endpoint == endpoint_id]
    return row.next_attempt_at


@pytest.fixture
def pem(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return str(path)


# --- endpoint update -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://example.com/fixed"},
        {"secret": "the-receivers-secret"},
        {"format": "mautic"},
        {"signature": "hex"},
        {"signature_header": "X-Signature"},
        {"signature_prefix": "sha256="},
        {"headers": ["Authorization: Bearer abc"]},
        {"success": "200"},
        {"allow_private": False},
        {"ca_bundle": "pem"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_change_that_decides_success_makes_the_waiting_batch_due(
    store: Store, clock: ManualClock, pem: str, change: dict[str, Any]
) -> None:
    endpoint_id = _waiting_batch(store, clock.now())
    later = clock.now() + timedelta(seconds=30)
    change = {name: pem if value == "pem" else value for name, value in change.items()}
    endpoints.update(store, endpoint_id, now=later, **change)
    assert _next_attempt(store, endpoint_id, later) == later


@pytest.mark.parametrize(
    "change",
    [
        {"name": "crm"},
        {"batch_size": 5},
        {"order": "desc"},
        {"timeout": 30.0},
        {"retry": "fixed:1m"},
        {"events": ["lead.*"]},
        {"url": "https://example.com/hook"},  # the URL it already has
    ],
    ids=lambda change: f"{next(iter(change))}={next(iter(change.values()))}",
)
def test_other_changes_leave_the_retry_time(store: Store, clock: ManualClock, change: dict[str, Any]) -> None:
    endpoint_id = _waiting_batch(store, clock.now())
    endpoints.update(store, endpoint_id, now=clock.now() + timedelta(seconds=30), **change)
    assert _next_attempt(store, endpoint_id, clock.now()) == clock.now() + RETRY_DELAY


def test_only_the_changed_endpoints_batch_moves(store: Store, clock: ManualClock) -> None:
    changed, other = _waiting_batch(store, clock.now()), _waiting_batch(store, clock.now())
    endpoints.update(store, changed, now=clock.now(), secret="new-secret")
    assert _next_attempt(store, changed, clock.now()) == clock.now()
    assert _next_attempt(store, other, clock.now()) == clock.now() + RETRY_DELAY


def test_rotating_the_secret_makes_the_waiting_batch_due(store: Store, clock: ManualClock) -> None:
    endpoint_id = _waiting_batch(store, clock.now())
    endpoints.rotate_secret(store, endpoint_id, clock.now())
    assert _next_attempt(store, endpoint_id, clock.now()) == clock.now()


# --- global settings -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [("allow_private", "false"), ("allow_networks", "10.0.0.0/8")])
def test_a_global_reach_setting_makes_every_waiting_batch_due(
    store: Store, clock: ManualClock, name: str, value: str
) -> None:
    waiting = [_waiting_batch(store, clock.now()), _waiting_batch(store, clock.now(), allow_private=True)]
    config.set_value(store, name, value, clock.now())
    assert store.config()[name] == value
    assert [_next_attempt(store, endpoint_id, clock.now()) for endpoint_id in waiting] == [clock.now()] * 2


def test_another_global_setting_leaves_the_retry_time(store: Store, clock: ManualClock) -> None:
    endpoint_id = _waiting_batch(store, clock.now())
    config.set_value(store, "timeout", "30s", clock.now())
    assert _next_attempt(store, endpoint_id, clock.now()) == clock.now() + RETRY_DELAY


def test_config_set_allow_private_from_the_cli(store: Store, invoke: Invoke) -> None:
    store.set_config("allow_private", "false")  # the store fixture allows it: refused, as a new install is
    failed_at = SystemClock().now()  # the CLI's clock
    endpoint_id = _waiting_batch(store, failed_at)
    assert ok(invoke("config", "set", "allow_private", "yes")) == "allow_private = yes\n"  # as typed
    next_attempt = _next_attempt(store, endpoint_id, failed_at)
    assert next_attempt is not None and next_attempt <= SystemClock().now()  # due now, not in 5 minutes


# --- endpoint retry ----------------------------------------------------------------------


def test_retry_now_makes_the_waiting_batch_due_keeping_its_attempts(store: Store, clock: ManualClock) -> None:
    endpoint_id = _waiting_batch(store, clock.now())
    endpoint, waiting = endpoints.retry_now(store, endpoint_id, clock.now())
    assert (endpoint.id, waiting) == (endpoint_id, 1)
    assert _next_attempt(store, endpoint_id, clock.now()) == clock.now()
    claim = store.claim_batch(endpoint_id, "lease", clock.now(), defaults_from(store.config()))
    assert claim is not None and claim[2].attempts == 1
    # Due already: nothing is waiting any more.
    assert endpoints.retry_now(store, endpoint_id, clock.now())[1] == 0


def test_retry_now_without_waiting_work_and_for_an_unknown_endpoint(store: Store, clock: ManualClock) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    assert endpoints.retry_now(store, endpoint.id, clock.now())[1] == 0
    assert store.status(clock.now())[0].next_attempt_at is None
    with pytest.raises(NotFound, match="no endpoint 99"):
        endpoints.retry_now(store, 99, clock.now())


def test_endpoint_retry_cli(store: Store, invoke: Invoke) -> None:
    endpoint_id = _waiting_batch(store, SystemClock().now())  # the CLI's clock
    idle = endpoints.add(store, "https://example.com/idle").id
    assert ok(invoke("endpoint", "retry", str(endpoint_id))) == f"endpoint {endpoint_id}: 1 waiting batch due now\n"
    assert ok(invoke("endpoint", "retry", str(endpoint_id))) == f"endpoint {endpoint_id}: nothing waiting\n"
    assert json.loads(ok(invoke("endpoint", "retry", str(idle), "--json"))) == {
        "id": idle,
        "due_now": 0,
        "enabled": True,
    }
    endpoints.disable(store, idle, SystemClock().now())
    assert "endpoint enable" in ok(invoke("endpoint", "retry", str(idle)))
    unknown = invoke("endpoint", "retry", "99")
    assert (unknown.exit_code, unknown.stdout, unknown.stderr) == (2, "", "Error: no endpoint 99\n")


# --- the README's `listen` recipe ----------------------------------------------------------


def test_the_recipe_refused_then_allowed_delivers_at_once(invoke: Invoke, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks", method="POST").respond_with_data("ok")
    # As the recipe once said: no --allow-private. Five minutes after the first refusal (the
    # default schedule waits that long after the second) stands for "not in this test's life".
    added = invoke("endpoint", "add", httpserver.url_for("/hooks"), "--secret", "s3cret", "--retry", "fixed:5m")
    assert "Warning: requests to this URL will fail" in ok(added) + added.stderr
    ok(invoke("enqueue", "lead.created", '{"id": 1}'))
    assert "1 failure" in ok(invoke("process", "--time-limit", "2s"))
    assert httpserver.log == []
    (refused,) = json.loads(ok(invoke("status", "--json")))
    assert refused["last_error"].startswith("refused destination:")
    assert refused["next_attempt_at"] > refused["last_error_at"]
    assert "refused destination" in ok(invoke("status"))

    ok(invoke("endpoint", "update", "1", "--allow-private"))
    assert "1 event delivered" in ok(invoke("process", "--time-limit", "2s"))
    assert len(httpserver.log) == 1
    (row,) = json.loads(ok(invoke("status", "--json")))
    assert (row["delivered"], row["consecutive_failures"], row["next_attempt_at"]) == (1, 0, None)
    assert row["last_error"] == refused["last_error"]  # the JSON keeps the history
    table = ok(invoke("status"))
    assert "refused" not in table
    assert re.search(r"^1\s+yes\s+0\s+0\s+1\s+0\s+0\s*$", table, re.MULTILINE), table
