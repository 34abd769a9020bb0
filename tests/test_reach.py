"""The SSRF guard: which addresses are refused, every resolved address checked, and the connection
pinned to the address that was checked. DNS answers are the one thing faked (a name resolving to
several addresses, or to another one the second time, cannot be set up for real here); the
requests go to real servers on 127.0.0.1, over real TLS where it matters."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from dispatcher.clock import SystemClock
from dispatcher.errors import DispatcherError
from dispatcher.sending.reach import Reach, RefusedDestination, UnresolvedHost, parse_networks
from dispatcher.sending.sender import Sender

GUARDED = Reach()


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.9.9.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # the cloud metadata service
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("100.127.255.254", "a carrier-grade NAT address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("240.0.0.1", "a private address"),  # reserved; Python files it as private
        ("::ffff:127.0.0.1", "a form of 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", "a form of 169.254.169.254, a link-local address"),
        ("2002:a00:1::1", "a form of 10.0.0.1, a private address"),  # 6to4
        ("64:ff9b::c0a8:101", "a form of 192.168.1.1, a private address"),  # NAT64
        ("64:ff9b:1::1", "a local NAT64 address"),
        ("::7f00:1", "a form of 127.0.0.1, a loopback address"),  # IPv4-compatible
        ("::ffff:0:a00:1", "a form of 10.0.0.1, a private address"),  # SIIT
        ("fec0::1", "a site-local address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a form of 192.0.2.45, a private address"),  # Teredo
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert GUARDED.refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert GUARDED.refusal(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_the_guard_and_allow_networks_opens_only_those() -> None:
    assert Reach(allow_private=True).refusal(ipaddress.ip_address("169.254.169.254")) is None
    intranet = Reach(allow_networks=parse_networks("10.0.0.0/24, fd00::/64"))
    assert intranet.refusal(ipaddress.ip_address("10.0.0.7")) is None
    assert intranet.refusal(ipaddress.ip_address("fd00::7")) is None
    assert intranet.refusal(ipaddress.ip_address("::ffff:10.0.0.7")) is None  # judged by what it carries
    assert intranet.refusal(ipaddress.ip_address("10.0.1.7")) == "a private address"


@pytest.mark.parametrize("text", ["10.0.0.0/33", "intranet", "10.0.0.0/8,,nope"])
def test_bad_networks_are_refused(text: str) -> None:
    with pytest.raises(DispatcherError, match="invalid network"):
        parse_networks(text)


class FakeDNS:
    """getaddrinfo answering for made-up names from a table (one list of addresses per lookup)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        self.lookups.append(host)
        turn = min(len(self.lookups) - 1, len(self.answers[host]) - 1)
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in self.answers[host][turn]
        ]


def test_every_address_a_name_resolves_to_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDNS(monkeypatch, {"mixed.example": [["93.184.215.14", "10.0.0.5"]]})
    with pytest.raises(RefusedDestination, match="mixed.example resolves to 10.0.0.5, a private address"):
        GUARDED.resolve("mixed.example", 80)


def test_a_name_that_does_not_resolve_is_reported_as_such() -> None:
    with pytest.raises(UnresolvedHost, match="cannot resolve nowhere.invalid"):
        GUARDED.resolve("nowhere.invalid", 80)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 and keeps each request's Host header."""

    hosts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.hosts.append(self.headers["Host"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[http.server.HTTPServer]:
    Recorder.hosts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch, local_server: http.server.HTTPServer
) -> None:
    """DNS rebinding: the name answers an allowed address for the check, then the metadata address."""
    port = local_server.server_address[1]
    dns = FakeDNS(monkeypatch, {"rebind.example": [["127.0.0.1"], ["169.254.169.254"]]})
    reach = Reach(allow_networks=parse_networks("127.0.0.1/32"))
    with Sender() as sender:
        for _ in range(3):
            outcome = sender.post(f"http://rebind.example:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=reach)
            assert outcome.ok, outcome.error
    assert dns.lookups == ["rebind.example"]  # looked up once, by the guard; never again to connect
    assert Recorder.hosts == [f"rebind.example:{port}"] * 3  # the receiver still sees the name


def test_a_name_with_several_addresses_is_reached_at_the_first_that_answers(
    monkeypatch: pytest.MonkeyPatch, local_server: http.server.HTTPServer
) -> None:
    """As urllib3 does by itself: here 127.0.0.2 refuses (the server listens on 127.0.0.1 only)."""
    port = local_server.server_address[1]
    FakeDNS(monkeypatch, {"pair.example": [["127.0.0.2", "127.0.0.1"]]})
    reach = Reach(allow_networks=parse_networks("127.0.0.0/8"))
    with Sender() as sender:
        outcome = sender.post(f"http://pair.example:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=reach)
    assert outcome.ok, outcome.error
    assert Recorder.hosts == [f"pair.example:{port}"]


class WhereRecorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 and keeps, for each request, the address it arrived at and its Host header."""

    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.server.server_address[0], self.headers["Host"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_threads_sending_at_once_each_reach_only_what_their_own_check_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers, each with its own guard, send at the same time to two names on one port: each
    request reaches the address its own check allowed, and a refused one reaches nothing. The
    servers answer HTTP/1.0, so every request opens a connection: the moment the checked address is used."""
    WhereRecorder.seen = []
    first = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WhereRecorder)
    port = first.server_address[1]
    second = http.server.ThreadingHTTPServer(("127.0.0.2", port), WhereRecorder)
    for server in (first, second):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    FakeDNS(monkeypatch, {"one.example": [["127.0.0.1"]], "two.example": [["127.0.0.2"]]})
    rounds = 50
    start = threading.Barrier(2)
    errors: dict[str, list[str | None]] = {}

    def worker(name: str, allowed: str, refused: str) -> None:
        reach = Reach(allow_networks=parse_networks(f"{allowed}/32"))
        start.wait()
        with Sender() as sender:
            errors[name] = [
                sender.post(f"http://{host}:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=reach).error
                for _ in range(rounds)
                for host in (name, refused)
            ]

    threads = [
        threading.Thread(target=worker, args=("one.example", "127.0.0.1", "two.example")),
        threading.Thread(target=worker, args=("two.example", "127.0.0.2", "one.example")),
    ]
    # Switch threads as often as the interpreter can, so one worker's requests interleave with the other's.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for server in (first, second):
        server.shutdown()
        server.server_close()

    for name, other, address in (
        ("one.example", "two.example", "127.0.0.2"),
        ("two.example", "one.example", "127.0.0.1"),
    ):
        refusal = (
            f"refused destination: {other} resolves to {address}, a loopback address; allow it with "
            "--allow-private or the allow_networks setting"
        )
        assert errors[name] == [None, refusal] * rounds
    assert sorted(WhereRecorder.seen) == sorted(
        [("127.0.0.1", f"one.example:{port}"), ("127.0.0.2", f"two.example:{port}")] * rounds
    )


def test_a_ca_bundle_gone_since_the_endpoint_was_added_is_a_failed_request(tls_server: tuple[int, Path]) -> None:
    port, bundle = tls_server
    bundle.unlink()
    with Sender() as sender:
        outcome = sender.post(
            f"https://localhost:{port}/hook",
            b"{}",
            {},
            2.0,
            SystemClock(),
            reach=Reach(allow_private=True),
            ca_bundle=str(bundle),
        )
    assert not outcome.ok and (outcome.error or "").startswith("not sent: Could not find a suitable TLS CA")


def test_a_refused_destination_is_a_failed_request_that_never_leaves(local_server: http.server.HTTPServer) -> None:
    url = f"http://127.0.0.1:{local_server.server_address[1]}/hook"
    with Sender() as sender:
        outcome = sender.post(url, b"{}", {}, 2.0, SystemClock())
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error == (
        "refused destination: 127.0.0.1 is a loopback address; allow it with --allow-private or the "
        "allow_networks setting"
    )
    assert Recorder.hosts == []


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An https server on 127.0.0.1 with a certificate for "localhost" from a private CA; yields
    its port and the CA's PEM file."""
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    Recorder.hosts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield server.server_address[1], bundle
    server.shutdown()
    server.server_close()


def test_https_checks_the_certificate_against_the_name_with_the_endpoints_ca_bundle(
    tls_server: tuple[int, Path],
) -> None:
    port, bundle = tls_server
    local = Reach(allow_private=True)
    with Sender() as sender:
        trusted = sender.post(
            f"https://localhost:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=local, ca_bundle=str(bundle)
        )
        assert trusted.ok, trusted.error
        # The usual CA bundle does not know the private CA.
        unknown = sender.post(f"https://localhost:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=local)
        assert not unknown.ok and "CERTIFICATE_VERIFY_FAILED" in (unknown.error or "")
        # Pinned to the address, the certificate is still checked against the URL's name, which it does not match.
        by_address = sender.post(
            f"https://127.0.0.1:{port}/hook", b"{}", {}, 2.0, SystemClock(), reach=local, ca_bundle=str(bundle)
        )
        assert not by_address.ok and "127.0.0.1" in (by_address.error or "")
    assert Recorder.hosts == [f"localhost:{port}"]
