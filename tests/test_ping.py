"""dispatcher.ping: a test send goes out like a real request and touches nothing in the queue."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints, ping
from dispatcher.clock import ManualClock
from dispatcher.errors import DispatcherError, NotFound
from dispatcher.producer import Queue
from dispatcher.store import Store


def queue_state(db_path: Path) -> list[list[tuple[object, ...]]]:
    """Everything a test send must leave alone: the queue, batches, and the endpoint's health."""
    with closing(sqlite3.connect(db_path)) as conn:
        return [
            conn.execute(sql).fetchall()
            for sql in (
                "SELECT * FROM events",
                "SELECT * FROM pending",
                "SELECT * FROM deliveries",
                "SELECT * FROM batches",
                "SELECT consecutive_failures, last_success_at, last_error, last_start_at, enabled FROM endpoints",
            )
        ]


def test_a_test_send_is_signed_in_the_endpoint_s_own_format(
    store: Store, clock: ManualClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("pong", headers={"X-Request-Id": "r-1"})
    endpoint = endpoints.add(
        store,
        httpserver.url_for("/hook"),
        secret="k",
        format="raw",
        signature="hex",
        signature_header="X-LeaseFetcher-Signature",
        headers=["X-Partner: 7"],
    )
    outcome = ping.send_test(store, endpoint.id, clock, "lead.new", {"id": 7527})
    request, _ = httpserver.log[0]
    body = request.get_data()
    assert body == b'{"id":7527}'
    assert request.headers["X-LeaseFetcher-Signature"] == hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert request.headers["X-Partner"] == "7"
    assert request.headers["X-Webhook-Event"] == "lead.new"
    report = ping.describe(outcome)
    assert report["accepted"] is True and report["status_code"] == 200
    assert report["response_headers"]["X-Request-Id"] == "r-1"
    assert report["response_body"] == "pong"


def test_defaults_are_mautic_s_test_payload_shape(store: Store, clock: ManualClock, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("")
    endpoint = endpoints.add(store, httpserver.url_for("/hook"))
    ping.send_test(store, endpoint.id, clock)
    sent = json.loads(httpserver.log[0][0].get_data())
    assert [(event["type"], event["data"]) for event in sent["events"]] == [("dispatcher.test", {"test": True})]


@pytest.mark.parametrize("status", [200, 500])
def test_a_test_send_is_logged_but_leaves_queue_and_health_alone(
    store: Store, clock: ManualClock, httpserver: HTTPServer, db_path: Path, status: int
) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=status)
    endpoint = endpoints.add(store, httpserver.url_for("/hook"))
    Queue(store).enqueue("lead.created", {"id": 1})
    before = queue_state(db_path)
    outcome = ping.send_test(store, endpoint.id, clock)
    assert outcome.ok is (status == 200)
    assert queue_state(db_path) == before
    [attempt] = store.attempts(endpoint.id)
    assert attempt.test is True
    assert attempt.status_code == status
    assert attempt.event_ids == ()


def test_a_disabled_endpoint_can_still_be_tested(store: Store, clock: ManualClock, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("")
    endpoint = endpoints.add(store, httpserver.url_for("/hook"))
    endpoints.disable(store, endpoint.id, clock.now())
    assert ping.send_test(store, endpoint.id, clock).ok
    assert store.endpoint(endpoint.id).enabled is False


def test_each_test_send_has_its_own_delivery_id(store: Store, clock: ManualClock, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("")
    endpoint = endpoints.add(store, httpserver.url_for("/hook"))
    ping.send_test(store, endpoint.id, clock)
    ping.send_test(store, endpoint.id, clock)
    ids = {request.headers["X-Webhook-Delivery-Id"] for request, _ in httpserver.log}
    assert len(ids) == 2


@pytest.mark.parametrize(("event_type", "payload"), [("", "{}"), ("t", "not json"), ("t", "3")])
def test_bad_test_input_sends_nothing(
    store: Store, clock: ManualClock, httpserver: HTTPServer, event_type: str, payload: str
) -> None:
    endpoint = endpoints.add(store, httpserver.url_for("/hook"))
    with pytest.raises(DispatcherError):
        ping.send_test(store, endpoint.id, clock, event_type, payload)
    assert not httpserver.log
    assert store.attempts(endpoint.id) == []


def test_an_unknown_endpoint_is_not_found(store: Store, clock: ManualClock) -> None:
    with pytest.raises(NotFound):
        ping.send_test(store, 42, clock)
