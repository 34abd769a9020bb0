"""One request against real servers on 127.0.0.1: outcomes, deadlines, caps, exact headers."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.clock import SystemClock, from_text
from dispatcher.config import BUILT_IN
from dispatcher.models import Batch, Event
from dispatcher.sending.reach import Reach
from dispatcher.sending.sender import RESPONSE_CAP, Sender, parse_retry_after
from dispatcher.store import Store


@pytest.fixture
def sender() -> Iterator[Sender]:
    sender = Sender()
    yield sender
    sender.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """A TCP server whose every connection is handled by the given function; returns its URL."""
    listeners: list[socket.socket] = []

    def start(handle: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    handle(conn)
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/hook"

    yield start
    for listener in listeners:
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


# The receivers here listen on 127.0.0.1, which the SSRF guard refuses unless allowed.
LOCAL = Reach(allow_private=True)


def post(sender: Sender, url: str, timeout: float = 2.0, headers: dict[str, str] | None = None):
    return sender.post(url, b'{"a":1}', headers or {}, timeout, SystemClock(), reach=LOCAL)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_success(sender: Sender, receiver: HTTPServer, status: int) -> None:
    receiver.expect_request("/hook").respond_with_data("thanks" if status != 204 else "", status=status)
    outcome = post(sender, receiver.url_for("/hook"))
    assert (outcome.ok, outcome.status_code, outcome.error) == (True, status, None)


@pytest.mark.parametrize("status", [400, 404, 410, 429, 500, 503])
def test_other_statuses_fail_with_the_body_kept(sender: Sender, receiver: HTTPServer, status: int) -> None:
    receiver.expect_request("/hook").respond_with_data("nope", status=status)
    outcome = post(sender, receiver.url_for("/hook"))
    assert (outcome.ok, outcome.status_code, outcome.error, outcome.response_excerpt) == (
        False,
        status,
        f"HTTP {status}",
        "nope",
    )


def test_a_slow_answer_fails_at_the_deadline(sender: Sender, receiver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response("late")

    receiver.expect_request("/hook").respond_with_handler(slow)
    began = time.monotonic()
    outcome = post(sender, receiver.url_for("/hook"), timeout=0.5)
    assert not outcome.ok and "timed out" in (outcome.error or "")
    assert time.monotonic() - began < 1.5


def test_a_refused_connection_fails_clearly(sender: Sender) -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    outcome = post(sender, f"http://127.0.0.1:{port}/hook")
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error and outcome.error.startswith("connection failed:")


def test_only_64_kib_of_a_huge_response_is_read(sender: Sender, receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("x" * (5 * 1024 * 1024))
    outcome = post(sender, receiver.url_for("/hook"))
    assert outcome.ok and len(outcome.response_excerpt or "") == RESPONSE_CAP


def test_a_connection_closed_mid_response_fails(sender: Sender, raw_server) -> None:
    def hang_up(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")

    outcome = post(sender, raw_server(hang_up))
    assert not outcome.ok and outcome.error


def test_header_names_go_out_exactly_as_spelled(sender: Sender, raw_server, store: Store) -> None:
    seen: list[bytes] = []

    def capture(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    endpoint = endpoints.add(
        store,
        raw_server(capture),
        secret="s",
        signature="hex",
        signature_header="X-LeaseFetcher-Signature",
        headers=["LeaseCloud-Version: 1.0.0", "x-lower-case: v"],
    )
    batch = Batch("b-1", endpoint.id, (Event(1, "lead.created", '{"a":1}', from_text("2026-11-22T10:00:00.000Z")),), 0)
    outcome = sender.deliver(endpoint, batch, replace(BUILT_IN, timeout=2.0, reach=LOCAL), SystemClock())
    assert outcome.ok
    head = seen[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    for line in [
        b"X-LeaseFetcher-Signature: ",
        b"LeaseCloud-Version: 1.0.0",
        b"x-lower-case: v",
        b"Content-Type: application/json",
        b"User-Agent: dispatcher/",
        b"X-Webhook-Event: lead.created",
        b"X-Webhook-Delivery-Id: b-1",
    ]:
        assert any(sent.startswith(line) for sent in head), line


def test_the_request_is_byte_for_byte_what_requests_post_sends(sender: Sender, raw_server) -> None:
    """Requests are sent from a prepared template, not through Session.post: the wire must not change."""
    seen: list[bytes] = []

    def capture(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    headers = {"Content-Type": "application/json", "User-Agent": "dispatcher/1", "x-lower": "a"}
    body = '{"name": "Zoë"}'.encode()
    for login in ("", "crm:s%20cret@"):  # a login in the URL goes as Basic auth, as requests sends it
        assert sender.post(
            raw_server(capture).replace("//", f"//{login}"), body, headers, 2.0, SystemClock(), reach=LOCAL
        ).ok
        with requests.Session() as session:
            session.post(raw_server(capture).replace("//", f"//{login}"), data=body, headers=headers)
    ours, theirs, ours_login, theirs_login = (re.sub(rb"127\.0\.0\.1:\d+", b"host", request) for request in seen)
    assert ours == theirs and ours_login == theirs_login
    assert b"Authorization: Basic Y3JtOnMgY3JldA==" in ours_login  # crm:s cret


@pytest.mark.parametrize(("status", "ok"), [(200, True), (201, False), (204, False), (500, False)])
def test_a_receiver_that_counts_only_200(sender: Sender, httpserver: HTTPServer, status: int, ok: bool) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=status)
    outcome = sender.post(httpserver.url_for("/hook"), b"{}", {}, 2.0, SystemClock(), success="200", reach=LOCAL)
    assert outcome.ok is ok
    if 200 < status < 300:
        assert outcome.error == f"HTTP {status}: only 200 counts as success"


def test_the_outcome_keeps_the_response_headers(sender: Sender, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok", headers={"X-Request-Id": "r-7"})
    outcome = post(sender, httpserver.url_for("/hook"))
    assert ("X-Request-Id", "r-7") in outcome.response_headers


def test_proxies_from_the_environment_are_ignored(
    sender: Sender, receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    receiver.expect_request("/hook").respond_with_data("ok")
    assert post(sender, receiver.url_for("/hook")).ok


def test_cookies_a_receiver_sets_are_never_sent_back(sender: Sender, receiver: HTTPServer) -> None:
    receiver.expect_ordered_request("/hook").respond_with_response(
        Response("ok", headers={"Set-Cookie": "session=abc; Path=/"})
    )
    receiver.expect_ordered_request("/hook").respond_with_data("ok")
    assert post(sender, receiver.url_for("/hook")).ok and post(sender, receiver.url_for("/hook")).ok
    assert [request.headers.get("Cookie") for request, _ in receiver.log] == [None, None]


def drip_the_head(conn: socket.socket) -> None:
    """Each byte well inside the read timeout, the whole head never."""
    read_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def test_a_head_dripped_a_byte_at_a_time_fails_at_the_deadline(sender: Sender, raw_server) -> None:
    began = time.monotonic()
    outcome = post(sender, raw_server(drip_the_head), timeout=1.0)
    assert (outcome.ok, outcome.error) == (False, "timed out after 1s")
    assert time.monotonic() - began < 1.5  # the deadline, not one read timeout per byte


def drip_the_tls_handshake(conn: socket.socket) -> None:
    """Answers the ClientHello with a full-size handshake record, a byte at a time."""
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    for _ in range(1000):
        conn.sendall(b"\x00")
        time.sleep(0.05)


def test_a_tls_handshake_dripped_a_byte_at_a_time_fails_at_the_deadline(sender: Sender, raw_server) -> None:
    url = raw_server(drip_the_tls_handshake).replace("http://", "https://")
    began = time.monotonic()
    outcome = post(sender, url, timeout=1.0)
    assert (outcome.ok, outcome.error) == (False, "timed out after 1s")
    assert time.monotonic() - began < 1.5


def test_the_next_request_on_the_same_sender_is_not_cut_by_an_old_deadline(
    sender: Sender, raw_server, receiver: HTTPServer
) -> None:
    post(sender, raw_server(drip_the_head), timeout=0.3)
    receiver.expect_request("/hook").respond_with_handler(lambda request: (time.sleep(0.5), Response("ok"))[1])
    assert post(sender, receiver.url_for("/hook"), timeout=2.0).ok


def endless_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (60_000, b"y" * 60_000)
    while True:
        conn.sendall(chunk)


def huge_header(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 200_000 + b"\r\n\r\n")


def many_headers(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(500)) + b"\r\n")


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (endless_body, "response not finished within the 1s deadline"),
        (huge_header, "connection failed: got more than 65536 bytes when reading header line"),
        (many_headers, "connection failed: got more than 100 headers"),
    ],
)
def test_hostile_answers_are_failed_attempts_with_a_clear_reason(
    sender: Sender, raw_server, behaviour: Callable[[socket.socket], None], error: str
) -> None:
    outcome = post(sender, raw_server(behaviour), timeout=1.0)
    assert (outcome.ok, outcome.error) == (False, error)
    assert len(outcome.response_excerpt or "") <= RESPONSE_CAP


def drip_the_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        conn.sendall(b"x")
        time.sleep(0.1)


def answer_late_then_fall_silent(conn: socket.socket) -> None:
    read_request(conn)
    time.sleep(0.7)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    time.sleep(3)


@pytest.mark.parametrize("receiver_behaviour", [drip_the_body, answer_late_then_fall_silent])
def test_a_body_unfinished_at_the_deadline_fails_at_the_deadline(
    sender: Sender, raw_server, receiver_behaviour: Callable[[socket.socket], None]
) -> None:
    began = time.monotonic()
    outcome = post(sender, raw_server(receiver_behaviour), timeout=1.0)
    assert not outcome.ok and "deadline" in (outcome.error or "")
    # The deadline itself, not late headers plus a whole fresh read timeout.
    assert time.monotonic() - began < 1.4


@pytest.mark.parametrize(
    ("status", "header", "wait"),
    [(429, "120", 120.0), (503, "0", 0.0), (503, "Sun, 22 Nov 2026 10:02:00 GMT", None), (500, "120", None)],
)
def test_retry_after_is_read_from_slow_down_answers(
    sender: Sender, httpserver: HTTPServer, status: int, header: str, wait: float | None
) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=status, headers={"Retry-After": header})
    outcome = post(sender, httpserver.url_for("/hook"))
    assert not outcome.ok
    if "GMT" in header:
        assert outcome.retry_after is not None  # a date: seconds from now, whatever now is
    else:
        assert outcome.retry_after == wait


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Sun, 22 Nov 2026 10:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("-5", None),
        ("²", None),  # a digit to str.isdigit(), not to HTTP
        ("99999999999999999999", 86400.0),  # at most a day
        ("Fri, 31 Dec 9999 23:59:59 GMT", 86400.0),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) == seconds
