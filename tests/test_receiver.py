"""dispatcher.receiver: a real server on 127.0.0.1, real signed requests for every scheme."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from dispatcher.capture import Capture, read_headers
from dispatcher.clock import ManualClock
from dispatcher.errors import DispatcherError
from dispatcher.models import Signing
from dispatcher.receiver import Received, Receiver, describe
from dispatcher.signing import SignatureError, new_secret, sign, verify

BODY = b'{"batch_id":"b1","events":[{"id":1,"type":"lead.created","data":{"name":"Zo\xc3\xab"}}]}'

SIGNINGS = {
    "mautic": Signing(),
    "hex": Signing("hex", "X-LeaseFetcher-Signature"),
    "github": Signing("hex", "X-Hub-Signature-256", "sha256="),
    "timestamped": Signing("timestamped", "LeaseCloud-Signature"),
    "standard": Signing("standard"),
}


def receiver_for(signing: Signing, secrets: list[str], **options: object) -> Receiver:
    return Receiver(
        secrets,
        scheme=signing.scheme,
        signature_header=signing.header,
        signature_prefix=signing.prefix,
        **options,  # type: ignore[arg-type]
    )


def signed_headers(signing: Signing, secrets: list[str], body: bytes = BODY) -> dict[str, str]:
    return sign(body, secrets, signing, message_id="msg_1", timestamp=int(time.time()))


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=5)


@pytest.mark.parametrize("case", SIGNINGS)
def test_a_genuine_request_is_verified(case: str) -> None:
    signing = SIGNINGS[case]
    secret = new_secret(signing.scheme)
    with receiver_for(signing, [secret]) as receiver:
        response = post(receiver.url, BODY, signed_headers(signing, [secret]))
    assert response.status_code == 200 and response.content == b""
    [received] = receiver.requests
    assert received.verified and received.checked and received.reason is None
    assert (received.method, received.path, received.body) == ("POST", "/webhook", BODY)


@pytest.mark.parametrize("case", SIGNINGS)
def test_a_tampered_request_is_refused_with_the_reason(case: str) -> None:
    signing = SIGNINGS[case]
    secret = new_secret(signing.scheme)
    with receiver_for(signing, [secret]) as receiver:
        post(receiver.url, BODY.replace(b'"id":1', b'"id":2'), signed_headers(signing, [secret]))
    [received] = receiver.requests
    assert not received.verified and received.checked
    assert "the body for any secret" in str(received.reason)
    assert secret not in str(received.reason)


@pytest.mark.parametrize("case", ["timestamped", "standard"])
def test_the_old_secret_still_verifies_during_a_rotation(case: str) -> None:
    signing = SIGNINGS[case]
    new, old = new_secret(signing.scheme), new_secret(signing.scheme)
    with receiver_for(signing, [old]) as receiver:
        post(receiver.url, BODY, signed_headers(signing, [new, old]))
    assert receiver.requests[0].verified


def test_a_wrong_secret_is_refused() -> None:
    with Receiver(["right"]) as receiver:
        post(receiver.url, BODY, signed_headers(Signing(), ["wrong"]))
    assert not receiver.requests[0].verified


def test_defaults_are_the_mautic_scheme_as_the_demo_uses_it() -> None:
    seen: list[Received] = []
    with Receiver(["s"], on_request=seen.append) as receiver:
        post(receiver.url, BODY, sign(BODY, ["s"], Signing(), message_id="", timestamp=0))
    assert seen == receiver.requests and seen[0].verified


def test_without_secrets_nothing_is_checked() -> None:
    printed: list[str] = []
    with Receiver([], printer=printed.append) as receiver:
        post(receiver.url, BODY, {})
    received = receiver.requests[0]
    assert not received.checked and not received.verified and received.reason is None
    assert printed[0].rstrip().endswith("signature: not checked (no --secret)")


@pytest.mark.parametrize("status", [200, 202, 204, 410, 500])
def test_it_answers_with_the_status_given(status: int) -> None:
    with Receiver([], status=status) as receiver:
        assert post(receiver.url, BODY, {}).status_code == status


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
def test_any_method_is_taken_and_kept(method: str) -> None:
    with Receiver([]) as receiver:
        response = requests.request(method, receiver.address + "any/path?q=1", data=b"x", timeout=5)
    assert response.status_code == 200
    assert (receiver.requests[0].method, receiver.requests[0].path) == (method, "/any/path?q=1")


def test_the_printer_gets_headers_as_sent_the_body_pretty_and_the_verdict() -> None:
    printed: list[str] = []
    signing = SIGNINGS["hex"]
    headers = {**signed_headers(signing, ["k"]), "X-Mixed-CASE": "Value: with colon"}
    with receiver_for(signing, ["k"], printer=printed.append) as receiver:
        post(receiver.address + "hooks/lead", BODY, headers)
    [text] = printed
    lines = text.splitlines()
    assert lines[1] == "POST /hooks/lead"
    assert "X-Mixed-CASE: Value: with colon" in lines
    assert f"X-LeaseFetcher-Signature: {headers['X-LeaseFetcher-Signature']}" in lines
    assert '  "batch_id": "b1",' in lines and '        "name": "Zo\u00eb"' in lines
    assert lines[-1] == "signature: valid"


def test_an_invalid_signature_is_printed_with_its_reason() -> None:
    printed: list[str] = []
    with Receiver(["k"], printer=printed.append) as receiver:
        post(receiver.url, BODY, {})
    assert printed[0].splitlines()[-1] == "signature: INVALID (no Webhook-Signature header)"


AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def test_describe_shows_other_bodies_as_text() -> None:
    received = Received("/", {"A": "1"}, b"not json \xff", verified=False, checked=False, at=AT)
    assert describe(received).splitlines() == [
        "--- 2026-11-22T10:00:00.000Z " + "-" * 40,
        "POST /",
        "A: 1",
        "",
        "not json \ufffd",
        "",
        "signature: not checked (no --secret)",
    ]
    assert "(empty body)" in describe(Received("/", {}, b"", verified=True, at=AT))


def test_printed_requests_never_interleave() -> None:
    active, overlaps, printed = [0], [], []
    lock = threading.Lock()

    def slow_printer(text: str) -> None:
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.02)  # long enough for other requests to arrive meanwhile
        printed.append(text)
        with lock:
            active[0] -= 1

    with Receiver([], printer=slow_printer) as receiver:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda n: post(receiver.url, b'{"n": %d}' % n, {}), range(16)))
    assert all(response.status_code == 200 for response in responses)
    assert len(printed) == 16 and max(overlaps) == 1


def test_a_chunked_body_is_read_whole() -> None:
    signing = SIGNINGS["mautic"]
    with Receiver(["k"]) as receiver:
        post(receiver.url, iter([BODY[:10], BODY[10:]]), signed_headers(signing, ["k"]))  # type: ignore[arg-type]
    assert "Content-Length" not in receiver.requests[0].headers
    assert receiver.requests[0].body == BODY and receiver.requests[0].verified


def test_a_bad_content_length_is_a_400() -> None:
    with Receiver([]) as receiver:
        address = urlsplit(receiver.address)
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
        connection.putrequest("POST", "/")
        connection.putheader("Content-Length", "lots")
        connection.endheaders()
        assert connection.getresponse().status == 400
        connection.close()
    assert receiver.requests == []


def test_the_address_has_the_real_port() -> None:
    receiver = Receiver([], port=0)
    try:
        port = receiver.server.server_address[1]
        assert port != 0 and receiver.address == f"http://127.0.0.1:{port}/"
        assert receiver.url == receiver.address + "webhook"
    finally:
        receiver.server.server_close()


@pytest.mark.parametrize(
    ("secrets", "options", "fragment"),
    [
        (["k"], {"scheme": "nope"}, "unknown signature scheme"),
        (["k"], {"scheme": "standard", "signature_header": "X-Sig"}, "header names are fixed"),
        (["k"], {"scheme": "timestamped", "signature_prefix": "sha256="}, "prefix only goes with"),
        (["whsec_!!not base64!!"], {"scheme": "standard"}, "base64"),
        (["k"], {"status": 99}, "invalid status 99"),
        (["k"], {"status": 600}, "invalid status 600"),
    ],
)
def test_bad_options_fail_at_construction(secrets: list[str], options: dict[str, object], fragment: str) -> None:
    with pytest.raises(DispatcherError, match=fragment) as caught:
        Receiver(secrets, **options)  # type: ignore[arg-type]
    assert "!!not base64!!" not in str(caught.value)


def test_each_printed_request_starts_with_a_separator_and_the_time_it_arrived() -> None:
    printed: list[str] = []
    clock = ManualClock(AT)
    with Receiver([], printer=printed.append, clock=clock) as receiver:
        post(receiver.url, b"{}", {})
        clock.advance(1.5)
        post(receiver.url, b"{}", {})
    assert [text.splitlines()[0] for text in printed] == [
        "--- 2026-11-22T10:00:00.000Z " + "-" * 40,
        "--- 2026-11-22T10:00:01.500Z " + "-" * 40,
    ]


@pytest.mark.parametrize("case", SIGNINGS)
def test_reject_invalid_answers_401_to_a_bad_signature_and_still_keeps_it(case: str) -> None:
    signing = SIGNINGS[case]
    secret = new_secret(signing.scheme)
    printed: list[str] = []
    with receiver_for(signing, [secret], status=202, reject_invalid=True, printer=printed.append) as receiver:
        genuine = post(receiver.url, BODY, signed_headers(signing, [secret]))
        forged = post(receiver.url, BODY + b" ", signed_headers(signing, [secret]))
        unsigned = post(receiver.url, BODY, {})
    assert (genuine.status_code, forged.status_code, unsigned.status_code) == (202, 401, 401)
    assert [request.rejected for request in receiver.requests] == [False, True, True]
    assert printed[0].splitlines()[-1] == "signature: valid"
    verdict = printed[1].splitlines()[-1]
    assert verdict.startswith("signature: INVALID (") and verdict.endswith("), answered 401")


def test_reject_invalid_needs_a_secret() -> None:
    with pytest.raises(DispatcherError, match="needs a secret") as caught:
        Receiver([], reject_invalid=True)
    assert caught.value.exit_code == 2


def test_saved_requests_are_numbered_on_after_the_files_already_there(tmp_path: Path) -> None:
    earlier = {"0007.body": b"earlier body", "0007.headers": b"X-Earlier: 1\n", "notes.txt": b"mine"}
    for name, content in earlier.items():
        (tmp_path / name).write_bytes(content)
    printed: list[str] = []
    with Receiver(["k"], capture=Capture(tmp_path), printer=printed.append) as receiver:
        for number in range(3):
            post(receiver.url, b'{"n": %d}' % number, {"X-N": str(number)})
    assert [(tmp_path / f"{n:04d}.body").read_bytes() for n in (8, 9, 10)] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert [read_headers(tmp_path / f"{n:04d}.headers")["X-N"] for n in (8, 9, 10)] == ["0", "1", "2"]
    assert all((tmp_path / name).read_bytes() == content for name, content in earlier.items())
    assert printed[0].splitlines()[-1] == f"saved: {tmp_path / '0008.headers'} {tmp_path / '0008.body'}"
    assert receiver.requests[2].saved is not None and receiver.requests[2].saved.body == tmp_path / "0010.body"


@pytest.mark.parametrize("case", SIGNINGS)
def test_a_saved_request_verifies_from_its_files(tmp_path: Path, case: str) -> None:
    signing = SIGNINGS[case]
    secret = new_secret(signing.scheme)
    with receiver_for(signing, [secret], capture=Capture(tmp_path)) as receiver:
        post(receiver.url, BODY, signed_headers(signing, [secret]))
        post(receiver.url, BODY + b" ", signed_headers(signing, [secret]))

    def check(number: str) -> None:
        body, headers = (tmp_path / f"{number}.body").read_bytes(), read_headers(tmp_path / f"{number}.headers")
        verify(body, headers, [secret], signing.scheme, signing.header, signing.prefix)

    check("0001")
    with pytest.raises(SignatureError):
        check("0002")


def test_a_request_that_cannot_be_saved_is_still_answered_and_printed(tmp_path: Path) -> None:
    folder = tmp_path / "captures"
    capture = Capture(folder)
    folder.rmdir()  # gone after listen started, like a disk taken away
    printed: list[str] = []
    with Receiver(["k"], capture=capture, printer=printed.append) as receiver:
        assert post(receiver.url, BODY, {}).status_code == 200
    assert printed[0].splitlines()[-1] == "not saved: No such file or directory"
    assert receiver.requests[0].saved is None
