"""`dispatcher attempts show ID`: one attempt's request and response, checked against what a real
receiver on 127.0.0.1 got and sent."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher.attempt_detail import attempt_detail
from dispatcher.clock import to_text
from dispatcher.store import open_store
from dispatcher.store.sqlite.connection import SCHEMA_VERSION

from .helpers import V5_SCHEMA, Invoke, free_port, ok

DETAIL_KEYS = set(
    "id endpoint batch_id event_ids test started_at duration_ms ok error recorded request response notes".split()
)
REQUEST_KEYS = {"line", "headers", "body", "body_sha256", "body_state", "format", "signature_scheme"}
RESPONSE_KEYS = {"status_code", "headers", "headers_cut", "body_excerpt"}


def add_endpoint(invoke: Invoke, url: str, *options: str) -> int:
    return int(json.loads(ok(invoke("endpoint", "add", url, "--allow-private", "--json", *options)))["id"])


def deliver(invoke: Invoke, *payloads: str) -> dict[str, Any]:
    """Queue the payloads, run `process` once, and return the one new attempt as `attempts show --json` has it."""
    for payload in payloads:
        ok(invoke("enqueue", "lead.created", payload))
    ok(invoke("process", "--time-limit", "2s"))
    newest = json.loads(ok(invoke("attempts", "--limit", "1", "--json")))[0]
    return attempt_detail_of(invoke, newest["id"])


def attempt_detail_of(invoke: Invoke, attempt_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(ok(invoke("attempts", "show", str(attempt_id), "--json")))
    return detail


def test_show_has_the_exact_request_the_receiver_got_and_its_response(invoke: Invoke, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_response(
        Response("thanks, queued", status=202, headers={"X-Request-Id": "r-9", "Set-Trace": "abc"})
    )
    url = httpserver.url_for("/hook").replace("http://", "http://ada:s3cret-pw@")
    endpoint_id = add_endpoint(invoke, url, "--header", "X-Tenant: acme")

    detail = deliver(invoke, '{"name": "Ada"}', '{"name": "Bob", "city": "Zürich"}')

    (received, _), *_ = httpserver.log
    assert isinstance(received, Request)
    assert detail.keys() == DETAIL_KEYS
    assert detail["request"].keys() == REQUEST_KEYS
    assert detail["response"].keys() == RESPONSE_KEYS
    assert (detail["endpoint"], detail["ok"], detail["error"], detail["test"], detail["recorded"]) == (
        endpoint_id,
        True,
        None,
        False,
        True,
    )
    request = detail["request"]
    assert request["line"] == f"POST {httpserver.url_for('/hook')}"  # no login in it
    assert (request["format"], request["signature_scheme"], request["body_state"]) == ("batch", "mautic", "exact")
    assert request["body"].encode() == received.get_data()
    assert request["body_sha256"] == hashlib.sha256(received.get_data()).hexdigest()
    # Every header the receiver saw, with the value it saw, but the login's Basic auth.
    sent = {name.lower(): value for name, value in request["headers"]}
    seen = {name.lower(): value for name, value in received.headers.items()}
    login = seen.pop("authorization")
    assert login.startswith("Basic ")
    assert sent.pop("authorization") == "[redacted]"
    assert sent == seen
    assert sent["x-tenant"] == "acme" and sent["x-webhook-delivery-id"] == detail["batch_id"]
    response = detail["response"]
    assert response["status_code"] == 202
    assert ["X-Request-Id", "r-9"] in response["headers"] and ["Set-Trace", "abc"] in response["headers"]
    assert (response["body_excerpt"], response["headers_cut"]) == ("thanks, queued", 0)

    text = ok(invoke("attempts", "show", str(detail["id"])))
    assert f"> POST {httpserver.url_for('/hook')}" in text
    assert "> Authorization: [redacted]" in text and "> X-Tenant: acme" in text
    assert request["body"] in text
    assert "< HTTP 202" in text and "< X-Request-Id: r-9" in text and "thanks, queued" in text
    assert "the same bytes as sent" in text
    assert "s3cret-pw" not in text + json.dumps(detail) and login not in text + json.dumps(detail)


@pytest.mark.parametrize("header", ["Authorization: Bearer tok-123", "Proxy-Authorization: Basic tok-123"])
def test_a_fixed_credential_header_is_redacted(invoke: Invoke, httpserver: HTTPServer, header: str) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    add_endpoint(invoke, httpserver.url_for("/hook"), "--header", header)

    detail = deliver(invoke, '{"n": 1}')

    name = header.partition(":")[0]
    (received, _), *_ = httpserver.log
    assert "tok-123" in received.headers[name]  # it went out
    assert [name, "[redacted]"] in detail["request"]["headers"]
    text = ok(invoke("attempts", "show", str(detail["id"])))
    assert f"> {name}: [redacted]" in text
    assert "tok-123" not in text + json.dumps(detail)
    assert f"took {detail['duration_ms']} ms, ok" in text


def test_a_refused_connection_shows_the_error_and_no_response(invoke: Invoke) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    add_endpoint(invoke, url)

    detail = deliver(invoke, '{"n": 1}')

    assert detail["ok"] is False and detail["error"].startswith("connection failed")
    assert detail["response"] is None
    assert detail["request"]["line"] == f"POST {url}"
    assert detail["request"]["body_state"] == "exact"
    text = ok(invoke("attempts", "show", str(detail["id"])))
    assert "failed: connection failed" in text and "< (no response)" in text


def test_a_refused_destination_shows_the_request_as_not_sent(invoke: Invoke) -> None:
    """The SSRF guard refused the address before anything went out: no request line, no headers."""
    ok(invoke("endpoint", "add", f"http://127.0.0.1:{free_port()}/hook", "--no-allow-private"))

    detail = deliver(invoke, '{"n": 1}')

    assert detail["error"].startswith("refused destination: 127.0.0.1 is a loopback address")
    assert (detail["request"]["line"], detail["request"]["headers"]) == (None, None)
    assert detail["request"]["body_state"] == "not sent"
    text = ok(invoke("attempts", "show", str(detail["id"])))
    assert "> (not sent)" in text and "> POST" not in text


def test_a_changed_format_and_scheme_are_said_and_the_body_stays_as_sent(
    invoke: Invoke, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint_id = add_endpoint(invoke, httpserver.url_for("/hook"))
    detail = deliver(invoke, '{"n": 1}')
    ok(invoke("endpoint", "update", str(endpoint_id), "--format", "mautic", "--signature", "hex"))

    again = attempt_detail_of(invoke, detail["id"])

    (received, _), *_ = httpserver.log
    assert again["request"]["body"].encode() == received.get_data()  # still the batch format it went out in
    assert again["request"]["body_state"] == "exact"
    assert "the endpoint's format has changed since: batch then, mautic now" in " ".join(again["notes"])
    assert "signature scheme has changed since: mautic then, hex now" in " ".join(again["notes"])
    text = ok(invoke("attempts", "show", str(detail["id"])))
    assert "format has changed since" in text and "signature scheme has changed since" in text


def test_a_pruned_event_means_the_body_cannot_be_rebuilt(invoke: Invoke, httpserver: HTTPServer, db_path: Path) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    add_endpoint(invoke, httpserver.url_for("/hook"))
    detail = deliver(invoke, '{"n": 1}', '{"n": 2}')
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM events WHERE id = ?", (detail["event_ids"][1],))
    conn.close()

    again = attempt_detail_of(invoke, detail["id"])

    assert (again["request"]["body"], again["request"]["body_state"]) == (None, "missing")
    assert f"the body cannot be rebuilt: event(s) {detail['event_ids'][1]} pruned" in again["notes"]
    assert again["request"]["headers"] == detail["request"]["headers"]  # the rest is still there


def test_a_test_request_is_shown_without_its_body(invoke: Invoke, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("pong", headers={"X-Request-Id": "t-1"})
    endpoint_id = add_endpoint(invoke, httpserver.url_for("/hook"))
    ok(invoke("endpoint", "test", str(endpoint_id)))
    (row,) = json.loads(ok(invoke("attempts", "--json")))

    detail = attempt_detail_of(invoke, row["id"])

    assert detail["test"] is True
    assert (detail["request"]["body"], detail["request"]["body_state"]) == (None, "not kept")
    assert ["X-Request-Id", "t-1"] in detail["response"]["headers"]
    assert "test request" in ok(invoke("attempts", "show", str(row["id"])))


def test_response_headers_beyond_16_kib_are_cut_and_counted(invoke: Invoke, httpserver: HTTPServer) -> None:
    many = {f"X-Filler-{n:02}": "x" * 1000 for n in range(30)}
    httpserver.expect_request("/hook").respond_with_response(Response("ok", headers=many))
    add_endpoint(invoke, httpserver.url_for("/hook"))

    response = deliver(invoke, '{"n": 1}')["response"]

    kept = [name for name, _ in response["headers"] if name.startswith("X-Filler-")]
    assert 0 < len(kept) < 30
    answered = requests.post(httpserver.url_for("/hook"), timeout=5).headers  # the same answer, in full
    assert len(response["headers"]) + response["headers_cut"] == len(answered)
    assert len(json.dumps(response["headers"], separators=(",", ":"))) <= 16 * 1024


def test_an_unknown_attempt_is_one_line_and_exit_2(invoke: Invoke) -> None:
    ok(invoke("init"))
    result = invoke("attempts", "show", "99")
    assert (result.exit_code, result.stderr, result.stdout) == (2, "Error: no attempt 99\n", "")


def test_the_list_options_still_list_and_do_not_go_with_show(invoke: Invoke) -> None:
    ok(invoke("endpoint", "add", "http://127.0.0.1:9/hook"))
    assert ok(invoke("attempts", "--endpoint", "1")) == "no attempts\n"
    result = invoke("attempts", "--endpoint", "1", "show", "1")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --endpoint filters the list")


def make_v5_database(path: Path) -> None:
    """A file as schema version 5 left it: an endpoint, two events delivered in one batch, its attempt."""
    with sqlite3.connect(path) as conn:
        conn.executescript(V5_SCHEMA.read_text())
        conn.execute("INSERT INTO endpoints (url, secret) VALUES ('https://example.com/hook', 'old-secret')")
        for n in (1, 2):
            conn.execute(
                "INSERT INTO events (type, payload, created_at) VALUES ('lead.created', ?, '2026-11-20T10:00:00.000Z')",
                (f'{{"id": {n}}}',),
            )
        conn.execute("DELETE FROM pending")
        conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, state, attempts, due_at, created_at, finished_at) "
            "VALUES ('b1', 1, '[1,2]', 'delivered', 1, ?, ?, ?)",
            ["2026-11-20T10:00:00.000Z"] * 3,
        )
        conn.execute("INSERT INTO deliveries (endpoint_id, event_id, batch_id) VALUES (1, 1, 'b1'), (1, 2, 'b1')")
        conn.execute(
            "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code, response_excerpt) "
            "VALUES (1, 'b1', '2026-11-20T10:00:00.000Z', 5, 1, 200, 'ok')"
        )
    conn.close()


def test_an_attempt_from_before_version_6_shows_what_it_lacks_as_not_recorded(db_path: Path, invoke: Invoke) -> None:
    make_v5_database(db_path)
    store = open_store(db_path)
    assert store.schema_version() == SCHEMA_VERSION >= 6  # upgraded past the version that keeps requests

    detail = attempt_detail(store, 1)
    store.close()

    assert detail.recorded is False
    assert (detail.request.line, detail.request.headers, detail.request.format) == (None, None, None)
    assert detail.response is not None
    assert (detail.response.status_code, detail.response.headers, detail.response.body_excerpt) == (200, None, "ok")
    # Rebuilt in the endpoint's format, which it may not have had then: unverified, and said so.
    assert detail.request.body_state == "unverified"
    assert detail.request.body is not None
    assert json.loads(detail.request.body) == {
        "batch_id": "b1",
        "events": [
            {"id": n, "type": "lead.created", "timestamp": "2026-11-20T10:00:00.000Z", "data": {"id": n}}
            for n in (1, 2)
        ],
    }
    text = ok(invoke("attempts", "show", "1"))
    assert "format not recorded, signature scheme not recorded" in text
    assert "> POST (URL not recorded)" in text and "> (headers not recorded)" in text
    assert "< HTTP 200" in text and "< (headers not recorded)" in text
    assert "endpoint's current format, batch; what was sent is not recorded" in text


@pytest.mark.parametrize("status", [200, 500])
def test_show_json_is_what_the_library_returns(
    invoke: Invoke, httpserver: HTTPServer, db_path: Path, status: int
) -> None:
    httpserver.expect_request("/hook").respond_with_data("answer", status=status)
    add_endpoint(invoke, httpserver.url_for("/hook"))
    detail = deliver(invoke, '{"n": 1}')

    store = open_store(db_path)
    try:
        assert json.loads(json.dumps(asdict(attempt_detail(store, detail["id"])), default=to_text)) == detail
    finally:
        store.close()
    assert detail["ok"] is (status == 200)
    assert detail["error"] == (None if status == 200 else "HTTP 500")
