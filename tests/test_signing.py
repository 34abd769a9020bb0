"""dispatcher.signing: the four schemes, each checked against an independent computation or the official verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import dispatcher
from dispatcher.errors import DispatcherError
from dispatcher.models import Signing
from dispatcher.signing import (
    DEFAULT_HEADER,
    SCHEMES,
    SignatureError,
    check_secret,
    check_signing,
    header_name,
    new_secret,
    sign,
    verify,
    whsec_secret,
)

BODY = b'{"batch_id":"b1","events":[{"id":1,"type":"lead.created","data":{ "a" :1, "name": "Zo\xc3\xab" }}]}'
SECRET = "s3cret-\u00e9"  # non-ASCII, so the key's encoding matters
OLD = "the-old-secret"
# Standard Webhooks secrets: whsec_ + base64 of 32 fixed bytes, so failures are reproducible.
STD_NEW = "whsec_" + base64.b64encode(bytes(range(32))).decode()
STD_OLD = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
MESSAGE_ID = "0b6f3c1e-6a52-4b8e-9a57-2f6f0d1f4c3a"
T = 1_795_000_000  # a fixed unix time, for the tests that pass `now`

# For every scheme: how it is configured, a new and an old secret it can sign with.
CASES = {
    "mautic": (Signing(), SECRET, OLD),
    "hex": (Signing("hex"), SECRET, OLD),
    "github": (Signing("hex", "X-Hub-Signature-256", "sha256="), SECRET, OLD),
    "timestamped": (Signing("timestamped", "LeaseCloud-Signature"), SECRET, OLD),
    "standard": (Signing("standard"), STD_NEW, STD_OLD),
}
ROTATING = ["timestamped", "standard"]  # the schemes that carry a signature per secret


def signed(case: str, secrets: list[str] | None = None, timestamp: int = T) -> dict[str, str]:
    signing, new, old = CASES[case]
    return sign(BODY, secrets or [new], signing, message_id=MESSAGE_ID, timestamp=timestamp)


def check(case: str, body: bytes, headers: dict[str, str], secrets: list[str], now: float = T) -> None:
    signing = CASES[case][0]
    verify(body, headers, secrets, signing.scheme, signing.header, signing.prefix, now=now)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# --- each scheme against an independent computation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "secret"),
    [(BODY, SECRET), (b"", "k"), (b"\x00\xff binary", "another-key"), ("é".encode(), "x" * 100)],
)
def test_mautic_matches_the_php_formula(body: bytes, secret: str) -> None:
    # Mautic's docs: base64_encode(hash_hmac('sha256', $rawData, $secret, true))
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256).digest()).decode()
    assert sign(body, [secret], Signing(), message_id="x", timestamp=0) == {"Webhook-Signature": expected}


def test_mautic_known_vector() -> None:
    # RFC 4231 test case 2 (key "Jefe"), re-encoded from hex to base64.
    digest = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    headers = sign(b"what do ya want for nothing?", ["Jefe"], Signing(), message_id="x", timestamp=0)
    assert headers == {"Webhook-Signature": base64.b64encode(digest).decode()}


@pytest.mark.parametrize("secret", [SECRET, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "k"])
def test_hex_matches_how_leasefetcher_and_offerte_adviseur_compute_it(secret: str) -> None:
    # LeaseFetcher, Offerte Adviseur and the lead-management service compute
    # hmac.new(secret.encode(), body, sha256).hexdigest(), a whsec_ secret used as it stands, prefix and all.
    expected = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    headers = sign(BODY, [secret], Signing("hex"), message_id="x", timestamp=0)
    assert headers == {"X-Webhook-Signature": expected}
    assert expected == expected.lower()


def test_hex_with_a_prefix_is_githubs_form() -> None:
    signing = Signing("hex", "X-Hub-Signature-256", "sha256=")
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, [SECRET], signing, message_id="x", timestamp=0) == {"X-Hub-Signature-256": expected}


@pytest.mark.parametrize("scheme", ["mautic", "hex"])
def test_single_signature_schemes_sign_with_the_newest_secret_only(scheme: str) -> None:
    one = sign(BODY, ["new"], Signing(scheme), message_id="x", timestamp=0)
    assert sign(BODY, ["new", "old"], Signing(scheme), message_id="x", timestamp=0) == one


@pytest.mark.parametrize("header", ["X-LeaseFetcher-Signature", "x-offerte-adviseur-signature", "Stripe-Signature"])
def test_the_header_is_spelled_as_configured(header: str) -> None:
    # PHP receivers read getallheaders() with exact case.
    scheme = "timestamped" if header == "Stripe-Signature" else "hex"
    assert list(sign(BODY, [SECRET], Signing(scheme, header), message_id="x", timestamp=T)) == [header]


def test_timestamped_matches_an_independent_computation() -> None:
    signed_payload = f"{T}.".encode() + BODY
    new = hmac.new(SECRET.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()
    old = hmac.new(OLD.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()
    headers = sign(BODY, [SECRET, OLD], Signing("timestamped"), message_id="x", timestamp=T)
    assert headers == {"Webhook-Signature": f"t={T},v1={new},v1={old}"}


@pytest.mark.parametrize("secret", ["whsec_stripe-style-secret", OLD])
def test_stripes_own_verifier_accepts_timestamped_for_the_new_and_the_old_secret(secret: str) -> None:
    now = int(time.time())
    headers = sign(BODY, ["whsec_stripe-style-secret", OLD], Signing("timestamped"), message_id="x", timestamp=now)
    assert stripe.WebhookSignature.verify_header(BODY.decode(), headers["Webhook-Signature"], secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY.decode(), headers["Webhook-Signature"], "other", tolerance=300)


def test_standard_matches_an_independent_computation() -> None:
    to_sign = f"{MESSAGE_ID}.{T}.".encode() + BODY
    new = base64.b64encode(hmac_sha256(bytes(range(32)), to_sign)).decode()
    old = base64.b64encode(hmac_sha256(bytes(range(100, 132)), to_sign)).decode()
    assert sign(BODY, [STD_NEW, STD_OLD], Signing("standard"), message_id=MESSAGE_ID, timestamp=T) == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(T),
        "webhook-signature": f"v1,{new} v1,{old}",
    }


@pytest.mark.parametrize("secret", [STD_NEW, STD_OLD])
def test_the_standardwebhooks_package_accepts_standard_for_the_new_and_the_old_secret(secret: str) -> None:
    headers = signed("standard", [STD_NEW, STD_OLD], timestamp=int(time.time()))
    Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret("standard")).verify(BODY, headers)


def test_a_generated_standard_secret_is_valid_and_accepted_by_standardwebhooks() -> None:
    secret = new_secret("standard")
    assert check_secret(secret, "standard") == secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    headers = sign(BODY, [secret], Signing("standard"), message_id="msg_1", timestamp=int(time.time()))
    Webhook(secret).verify(BODY, headers)


# --- verify -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_verify_round_trips(case: str) -> None:
    check(case, BODY, signed(case), [CASES[case][1]])


@pytest.mark.parametrize("case", CASES)
def test_verify_defaults_now_to_the_clock(case: str) -> None:
    signing, secret, _ = CASES[case]
    headers = signed(case, timestamp=int(time.time()))
    verify(BODY, headers, secret, signing.scheme, signing.header, signing.prefix)


@pytest.mark.parametrize("case", CASES)
def test_verify_accepts_any_currently_valid_secret(case: str) -> None:
    _, new, old = CASES[case]
    headers = signed(case, [new, old])
    for secrets in ([new], [old, new], (s for s in [new])):
        check(case, BODY, headers, list(secrets))
    if case in ROTATING:
        check(case, BODY, headers, [old])  # a receiver that has not switched yet


@pytest.mark.parametrize("case", CASES)
def test_verify_rejects_a_tampered_body(case: str) -> None:
    tampered = BODY.replace(b'"a" :1', b'"a" :2')
    assert tampered != BODY
    with pytest.raises(SignatureError, match="matches the body|match the body"):
        check(case, tampered, signed(case), [CASES[case][1]])


@pytest.mark.parametrize("case", CASES)
def test_verify_rejects_a_wrong_secret(case: str) -> None:
    other = new_secret(CASES[case][0].scheme)
    with pytest.raises(SignatureError) as caught:
        check(case, BODY, signed(case), [other, CASES[case][2]])
    assert other not in str(caught.value) and CASES[case][2] not in str(caught.value)


@pytest.mark.parametrize("case", CASES)
def test_verify_with_no_secrets_rejects(case: str) -> None:
    with pytest.raises(SignatureError):
        check(case, BODY, signed(case), [])


@pytest.mark.parametrize("case", CASES)
def test_verify_rejects_each_missing_header(case: str) -> None:
    headers = signed(case)
    for name in headers:
        with pytest.raises(SignatureError, match=f"^no {name} header$"):
            check(case, BODY, {key: value for key, value in headers.items() if key != name}, [CASES[case][1]])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title])
def test_verify_matches_header_names_case_insensitively(case: str, spell: Callable[[str], str]) -> None:
    headers = {spell(name): value for name, value in signed(case).items()}
    check(case, BODY, {"Content-Type": "application/json", **headers}, [CASES[case][1]])


@pytest.mark.parametrize("case", ROTATING)
@pytest.mark.parametrize(("offset", "fragment"), [(-301, "301 s old"), (301, "301 s in the future")])
def test_verify_rejects_timestamps_beyond_the_tolerance(case: str, offset: int, fragment: str) -> None:
    headers = signed(case, timestamp=T + offset)
    with pytest.raises(SignatureError, match=f"{fragment} \\(tolerance 300 s\\)"):
        check(case, BODY, headers, [CASES[case][1]])


@pytest.mark.parametrize("case", ROTATING)
@pytest.mark.parametrize("offset", [-300, 300])
def test_verify_accepts_timestamps_at_the_edge_of_the_tolerance(case: str, offset: int) -> None:
    check(case, BODY, signed(case, timestamp=T + offset), [CASES[case][1]])


@pytest.mark.parametrize("case", ROTATING)
def test_the_tolerance_is_the_callers(case: str) -> None:
    signing, secret, _ = CASES[case]
    headers = signed(case, timestamp=T - 3600)
    verify(BODY, headers, secret, signing.scheme, signing.header, tolerance=3600, now=T)
    with pytest.raises(SignatureError, match="3601 s old"):
        verify(BODY, headers, secret, signing.scheme, signing.header, tolerance=3600, now=T + 1)


@pytest.mark.parametrize("case", ["mautic", "hex", "github"])
def test_untimed_schemes_do_not_look_at_the_clock(case: str) -> None:
    check(case, BODY, signed(case), [CASES[case][1]], now=0)


@pytest.mark.parametrize(
    "value",
    ["", "garbage", f"t={T}", "v1=abc", f"t=abc,v1={'0' * 64}", f"t={T},t={T},v1={'0' * 64}", f"t=-{T},v1=00"],
)
def test_verify_rejects_malformed_timestamped_headers(value: str) -> None:
    with pytest.raises(SignatureError, match="Webhook-Signature"):
        verify(BODY, {"Webhook-Signature": value}, SECRET, "timestamped", now=T)


@pytest.mark.parametrize(
    ("name", "value"),
    [("webhook-signature", "v2,abc"), ("webhook-signature", "nonsense"), ("webhook-timestamp", "12.5")],
)
def test_verify_rejects_malformed_standard_headers(name: str, value: str) -> None:
    headers = {**signed("standard"), name: value}
    with pytest.raises(SignatureError, match=f"malformed {name} header"):
        check("standard", BODY, headers, [STD_NEW])


def test_verify_standard_ignores_unknown_versions_and_undecodable_signatures() -> None:
    headers = signed("standard")
    headers["webhook-signature"] = "v2,whatever v1,!!! " + headers["webhook-signature"]
    check("standard", BODY, headers, [STD_NEW])


def test_verify_standard_takes_secrets_without_the_whsec_prefix() -> None:
    # As the standardwebhooks package does; unpadded base64 too.
    bare = STD_NEW.removeprefix("whsec_")
    check("standard", BODY, signed("standard"), [bare])
    check("standard", BODY, signed("standard"), [bare.rstrip("=")])


def test_verify_timestamped_keys_with_the_whole_whsec_secret() -> None:
    headers = sign(BODY, [STD_NEW], Signing("timestamped"), message_id="x", timestamp=T)
    verify(BODY, headers, STD_NEW, "timestamped", now=T)
    with pytest.raises(SignatureError):
        verify(BODY, headers, STD_NEW.removeprefix("whsec_"), "timestamped", now=T)


def test_verify_with_the_prefix_wanted() -> None:
    headers = signed("github")
    verify(BODY, headers, SECRET, "hex", "X-Hub-Signature-256", "sha256=")
    with pytest.raises(SignatureError):
        verify(BODY, headers, SECRET, "hex", "X-Hub-Signature-256")  # the prefix is part of what is compared


def test_public_verify_is_the_same_function() -> None:
    dispatcher.verify(BODY, signed("mautic"), secrets=[SECRET])
    assert dispatcher.verify is verify


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"scheme": "sha1"}, "unknown signature scheme 'sha1': use mautic, hex, timestamped or standard"),
        ({"scheme": "standard", "signature_header": "X-Sig"}, "header names are fixed"),
        ({"scheme": "timestamped", "signature_prefix": "sha256="}, "prefix only goes with the mautic and hex"),
        ({"scheme": "hex", "signature_header": "X Sig"}, "not a valid HTTP header name"),
        ({"tolerance": -1}, "tolerance"),
    ],
)
def test_verify_reports_bad_options_as_dispatcher_errors(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(DispatcherError, match=fragment) as caught:
        verify(BODY, signed("mautic"), SECRET, **options)  # type: ignore[arg-type]
    assert not isinstance(caught.value, SignatureError)


@pytest.mark.parametrize("secret", ["whsec_***not base64***", "whsec_=", "="])
def test_verify_reports_an_unusable_standard_secret_without_showing_it(secret: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        check("standard", BODY, signed("standard"), [STD_NEW, secret])
    assert not isinstance(caught.value, SignatureError)
    assert secret not in str(caught.value) and STD_NEW not in str(caught.value)


def test_signature_error_is_a_dispatcher_error_with_exit_code_1() -> None:
    # Callers that catch DispatcherError also see bad signatures.
    assert issubclass(SignatureError, DispatcherError)
    assert dispatcher.SignatureError is SignatureError
    assert SignatureError("x").exit_code == 1


# --- options, secrets, header names -----------------------------------------------------------------------------


def test_every_scheme_has_a_default_header() -> None:
    assert SCHEMES == ("mautic", "hex", "timestamped", "standard")
    assert DEFAULT_HEADER == {
        "mautic": "Webhook-Signature",
        "hex": "X-Webhook-Signature",
        "timestamped": "Webhook-Signature",
        "standard": "webhook-signature",
    }


@pytest.mark.parametrize("scheme", SCHEMES)
def test_header_name_is_the_configured_one_else_the_schemes(scheme: str) -> None:
    assert header_name(Signing(scheme)) == DEFAULT_HEADER[scheme]
    if scheme != "standard":
        assert header_name(Signing(scheme, "X-Custom-Sig")) == "X-Custom-Sig"


@pytest.mark.parametrize(
    ("scheme", "header", "prefix"),
    [("mautic", None, ""), ("hex", "X-Hub-Signature-256", "sha256="), ("timestamped", "Stripe-Signature", "")],
)
def test_check_signing_accepts_good_options(scheme: str, header: str | None, prefix: str) -> None:
    assert check_signing(scheme, header, prefix) == Signing(scheme, header, prefix)


@pytest.mark.parametrize(
    ("scheme", "header", "prefix", "fragment"),
    [
        ("md5", None, "", "unknown signature scheme 'md5': use mautic, hex, timestamped or standard"),
        ("hex", "X Signature", "", "'X Signature' is not a valid HTTP header name"),
        ("hex", "X-Sig:", "", "not a valid HTTP header name"),
        ("hex", "X-Sig\r\nEvil: 1", "", "not a valid HTTP header name"),
        ("hex", "", "", "not a valid HTTP header name"),
        ("hex", None, "sha256=\r\nEvil: 1", "printable ASCII"),
        ("mautic", None, "\x00", "printable ASCII"),
        ("standard", "webhook-signature", "", "header names are fixed: leave --signature-header out"),
        ("timestamped", None, "sha256=", "prefix only goes with the mautic and hex schemes, not timestamped"),
        ("standard", None, "v1=", "prefix only goes with the mautic and hex schemes, not standard"),
    ],
)
def test_check_signing_refuses_bad_options(scheme: str, header: str | None, prefix: str, fragment: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        check_signing(scheme, header, prefix)
    message = str(caught.value)
    assert fragment in message and "\n" not in message and "\r" not in message


@pytest.mark.parametrize(
    ("secret", "scheme"),
    [
        ("x", "mautic"),
        ("whsec_abc", "hex"),  # only standard reads whsec_ secrets as base64
        ("not base64!", "timestamped"),
        ("whsec_" + base64.b64encode(b"k" * 24).decode(), "standard"),
        ("whsec_" + base64.b64encode(b"k" * 64).decode(), "standard"),
    ],
)
def test_check_secret_accepts(secret: str, scheme: str) -> None:
    assert check_secret(secret, scheme) == secret


@pytest.mark.parametrize(
    "secret",
    [
        base64.b64encode(b"k" * 32).decode(),  # no whsec_
        "whsec_" + base64.b64encode(b"k" * 23).decode(),  # too short
        "whsec_" + base64.b64encode(b"k" * 65).decode(),  # too long
        "whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("="),  # unpadded
        "whsec_" + base64.urlsafe_b64encode(b"\xfb" * 33).decode(),  # the URL-safe alphabet
        "whsec_ " + base64.b64encode(b"k" * 32).decode(),
        "whsec_not base64 at all, not even close!!",
        "whsec_",
    ],
)
def test_check_secret_refuses_a_bad_standard_secret_without_showing_it(secret: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        check_secret(secret, "standard")
    message = str(caught.value)
    assert message == (
        "the standard scheme needs a whsec_ secret (whsec_ + base64 of 24-64 random bytes); "
        "leave --secret out to have one generated"
    )
    assert secret.removeprefix("whsec_") not in message or secret == "whsec_"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_check_secret_refuses_an_empty_secret(scheme: str) -> None:
    with pytest.raises(DispatcherError, match="must not be empty"):
        check_secret("", scheme)


def test_check_secret_refuses_an_unknown_scheme() -> None:
    with pytest.raises(DispatcherError, match="unknown signature scheme"):
        check_secret("x", "nope")


@pytest.mark.parametrize("scheme", ["mautic", "hex", "timestamped"])
def test_new_secret_is_long_and_unique(scheme: str) -> None:
    secrets = [new_secret(scheme) for _ in range(50)]
    assert len(set(secrets)) == len(secrets)
    for secret in secrets:
        # At least 256 bits when read as base64 text.
        assert len(secret) >= 43
        assert secret.isascii() and secret.strip() == secret
        assert check_secret(secret, scheme) == secret
    assert len(new_secret()) >= 43  # mautic's, by default


def test_new_standard_secrets_are_unique() -> None:
    secrets = {new_secret("standard") for _ in range(50)}
    assert len(secrets) == 50
    assert all(secret.startswith("whsec_") for secret in secrets)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_whsec_secret_signs_and_verifies_in_every_scheme(scheme: str) -> None:
    secrets = {whsec_secret() for _ in range(20)}
    assert len(secrets) == 20
    secret = secrets.pop()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert check_secret(secret, scheme) == secret
    headers = sign(BODY, [secret], Signing(scheme), message_id="msg_1", timestamp=T)
    verify(BODY, headers, secret, scheme, now=T)


def test_sign_needs_a_secret_and_good_options() -> None:
    with pytest.raises(DispatcherError, match="no secret"):
        sign(BODY, [], Signing(), message_id="x", timestamp=T)
    with pytest.raises(DispatcherError, match="unknown signature scheme"):
        sign(BODY, [SECRET], Signing("nope"), message_id="x", timestamp=T)
    with pytest.raises(DispatcherError) as caught:
        sign(BODY, ["not-a-whsec-secret"], Signing("standard"), message_id="x", timestamp=T)
    assert "not-a-whsec-secret" not in str(caught.value)
