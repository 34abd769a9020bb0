"""dispatcher.sending.request: the headers every request carries, fixed headers, and which secrets sign."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dispatcher.clock import from_text
from dispatcher.errors import DispatcherError
from dispatcher.models import Batch, Event, RetiredSecret, Signing
from dispatcher.sending.request import (
    build_request,
    check_headers,
    check_success,
    is_success,
    parse_header,
    signing_secrets,
)
from tests.factories import make_endpoint

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def make_batch(*types: str) -> Batch:
    events = tuple(Event(i, t, f'{{"n":{i}}}', from_text("2026-11-22T09:59:00.000Z")) for i, t in enumerate(types, 1))
    return Batch("9b2f0c1e-0000-4000-8000-00000000000a", 1, events, 0)


def test_every_request_names_its_event_types_and_delivery_id() -> None:
    _, headers = build_request(make_endpoint(), make_batch("lead.created", "lead.updated", "lead.created"), NOW)
    assert headers["X-Webhook-Event"] == "lead.created,lead.updated"
    assert headers["X-Webhook-Delivery-Id"] == "9b2f0c1e-0000-4000-8000-00000000000a"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("dispatcher/")


def test_the_body_follows_the_endpoint_format_and_the_signature_covers_it() -> None:
    endpoint = make_endpoint(format="raw", signing=Signing("hex", "X-LeaseFetcher-Signature"), secret="k")
    body, headers = build_request(endpoint, make_batch("deal.created"), NOW)
    assert body == b'{"n":1}'
    assert headers["X-LeaseFetcher-Signature"] == hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_fixed_headers_are_sent_as_spelled_and_may_replace_the_defaults() -> None:
    endpoint = make_endpoint(headers=(("LeaseCloud-Version", "1.0.0"), ("content-type", "application/json; v=2")))
    _, headers = build_request(endpoint, make_batch("t"), NOW)
    assert headers["LeaseCloud-Version"] == "1.0.0"
    assert headers["content-type"] == "application/json; v=2"
    assert "Content-Type" not in headers  # replaced, not sent twice


def test_the_timestamped_scheme_signs_with_the_time_of_sending() -> None:
    endpoint = make_endpoint(signing=Signing("timestamped", "LeaseCloud-Signature"), secret="k")
    body, headers = build_request(endpoint, make_batch("t"), NOW)
    timestamp = int(NOW.timestamp())
    expected = hmac.new(b"k", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["LeaseCloud-Signature"] == f"t={timestamp},v1={expected}"


def test_the_standard_scheme_uses_the_delivery_id_as_webhook_id() -> None:
    endpoint = make_endpoint(signing=Signing("standard"), secret="whsec_" + "A" * 32)
    _, headers = build_request(endpoint, make_batch("t"), NOW)
    assert headers["webhook-id"] == headers["X-Webhook-Delivery-Id"]
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [("mautic", ["new"]), ("hex", ["new"]), ("timestamped", ["new", "old"]), ("standard", ["new", "old"])],
)
def test_old_secrets_sign_only_where_a_request_can_carry_several(scheme: str, expected: list[str]) -> None:
    endpoint = make_endpoint(
        signing=Signing(scheme),
        secret="new",
        retired_secrets=(RetiredSecret("old", from_text("2026-11-23T10:00:00.000Z")),),
    )
    assert signing_secrets(endpoint, NOW) == expected


def test_an_expired_old_secret_no_longer_signs() -> None:
    endpoint = make_endpoint(
        signing=Signing("timestamped"),
        secret="new",
        retired_secrets=(RetiredSecret("old", from_text("2026-11-22T10:00:00.000Z")),),
    )
    assert signing_secrets(endpoint, NOW) == ["new"]
    assert signing_secrets(replace(endpoint, retired_secrets=()), NOW) == ["new"]


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("LeaseCloud-Version: 1.0.0", ("LeaseCloud-Version", "1.0.0")),
        ("x-api-key:abc", ("x-api-key", "abc")),
        ("Authorization:  Bearer a:b ", ("Authorization", "Bearer a:b")),
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_parse_header(text: str, pair: tuple[str, str]) -> None:
    assert parse_header(text) == pair


@pytest.mark.parametrize(
    "text", ["no colon", ": value", "Bad Name: v", "X-A: line\r\nbreak", "X-B: \x00", "Ä: v", "X-Price: 5 €"]
)
def test_malformed_headers_are_refused(text: str) -> None:
    with pytest.raises(DispatcherError, match="header"):
        parse_header(text)


@pytest.mark.parametrize(
    ("signing", "name"),
    [
        (Signing(), "webhook-signature"),
        (Signing("hex", "X-LeaseFetcher-Signature"), "x-leasefetcher-signature"),
        (Signing("standard"), "Webhook-Id"),
        (Signing(), "X-Webhook-Event"),
        (Signing(), "x-webhook-delivery-id"),
        (Signing(), "Content-Length"),
        (Signing(), "Host"),
    ],
)
def test_fixed_headers_may_not_take_the_names_the_dispatcher_sets(signing: Signing, name: str) -> None:
    with pytest.raises(DispatcherError, match="sets it itself"):
        check_headers([(name, "x")], signing)


def test_a_fixed_header_given_twice_is_refused() -> None:
    with pytest.raises(DispatcherError, match="given twice"):
        check_headers([("X-A", "1"), ("x-a", "2")], Signing())


def test_success_rules() -> None:
    assert [status for status in (199, 200, 201, 299, 300) if is_success(status, "2xx")] == [200, 201, 299]
    assert [status for status in (200, 201, 204) if is_success(status, "200")] == [200]
    assert check_success("200") == "200"
    with pytest.raises(DispatcherError, match="use 2xx or 200"):
        check_success("3xx")


def test_batch_body_is_unchanged_by_the_wire_layer() -> None:
    body, _ = build_request(make_endpoint(), make_batch("a"), NOW)
    assert json.loads(body)["events"][0]["data"] == {"n": 1}
