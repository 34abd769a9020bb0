"""dispatcher.signing: Mautic-compatible request signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

import dispatcher
from dispatcher.errors import DispatcherError
from dispatcher.signing import (
    SIGNATURE_HEADER,
    SignatureError,
    mautic_signature,
    new_secret,
    signature_headers,
    verify,
)

BODY = b'{"batch_id":"b1","events":[{"id":1,"type":"lead.created","data":{ "a" :1 }}]}'
SECRET = "s3cret-\u00e9"  # non-ASCII, so the key's encoding matters


def reference_signature(body: bytes, secret: str) -> str:
    """Mautic's scheme written out independently: base64(HMAC-SHA256(utf-8 secret, body))."""
    mac = hmac.new(secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


@pytest.mark.parametrize(
    ("body", "secret"),
    [(BODY, SECRET), (b"", "k"), (b"\x00\xff binary", "another-key"), ("é".encode(), "x" * 100)],
)
def test_signature_matches_an_independent_computation(body: bytes, secret: str) -> None:
    assert mautic_signature(body, secret) == reference_signature(body, secret)


def test_known_vector() -> None:
    # RFC 4231 test case 2 (key "Jefe"), re-encoded from hex to base64.
    expected = base64.b64encode(
        bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    ).decode()
    assert mautic_signature(b"what do ya want for nothing?", "Jefe") == expected


def test_signature_headers_use_the_mautic_header_name() -> None:
    assert signature_headers(BODY, SECRET) == {"Webhook-Signature": reference_signature(BODY, SECRET)}


def test_verify_accepts_a_correct_signature() -> None:
    verify(BODY, {"Webhook-Signature": reference_signature(BODY, SECRET)}, SECRET)


@pytest.mark.parametrize("name", ["webhook-signature", "WEBHOOK-SIGNATURE", "WebHook-Signature"])
def test_verify_matches_the_header_name_case_insensitively(name: str) -> None:
    headers = {"Content-Type": "application/json", name: reference_signature(BODY, SECRET)}
    verify(BODY, headers, SECRET)


def test_verify_accepts_any_of_several_secrets() -> None:
    # During rotation a receiver holds the old and the new secret.
    headers = {SIGNATURE_HEADER: reference_signature(BODY, "new")}
    verify(BODY, headers, ["old", "new"])
    verify(BODY, headers, ("new", "old"))
    verify(BODY, headers, (s for s in ["older", "old", "new"]))


def test_public_verify_is_the_same_function() -> None:
    dispatcher.verify(BODY, {SIGNATURE_HEADER: reference_signature(BODY, SECRET)}, secrets=[SECRET])


def test_verify_rejects_a_wrong_secret() -> None:
    headers = {SIGNATURE_HEADER: reference_signature(BODY, "attacker")}
    with pytest.raises(SignatureError):
        verify(BODY, headers, SECRET)
    with pytest.raises(SignatureError):
        verify(BODY, headers, ["one", "two"])


def test_verify_rejects_a_tampered_body() -> None:
    headers = {SIGNATURE_HEADER: reference_signature(BODY, SECRET)}
    tampered = BODY.replace(b'"a" :1', b'"a" :2')
    assert tampered != BODY
    with pytest.raises(SignatureError):
        verify(tampered, headers, SECRET)


def test_verify_rejects_a_missing_header() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(BODY, {"Content-Type": "application/json"}, SECRET)
    assert SIGNATURE_HEADER in str(caught.value)


def test_verify_rejects_a_garbage_signature() -> None:
    with pytest.raises(SignatureError):
        verify(BODY, {SIGNATURE_HEADER: ""}, SECRET)
    with pytest.raises(SignatureError):
        verify(BODY, {SIGNATURE_HEADER: "not base64 at all"}, SECRET)


def test_verify_with_no_secrets_rejects() -> None:
    with pytest.raises(SignatureError):
        verify(BODY, {SIGNATURE_HEADER: reference_signature(BODY, SECRET)}, [])


def test_signature_error_is_a_dispatcher_error() -> None:
    # Callers that catch DispatcherError also see bad signatures.
    assert issubclass(SignatureError, DispatcherError)
    assert dispatcher.SignatureError is SignatureError


def test_new_secret_is_long_and_unique() -> None:
    secrets = [new_secret() for _ in range(50)]
    assert len(set(secrets)) == len(secrets)
    for secret in secrets:
        # At least 256 bits when read as base64 text.
        assert len(secret) >= 43
        assert secret.isascii() and secret.strip() == secret
