"""Request signatures: computed for what we send, checked for what receivers get.

Four schemes, so receivers written for other senders accept our requests unchanged: ``mautic`` (the
default; base64 HMAC-SHA256 of the body), ``hex`` (lowercase hex of the same: LeaseFetcher, Offerte
Adviseur, and GitHub's with prefix ``sha256=``), ``timestamped`` (Stripe's and LeaseCloud's
``t=<ts>,v1=<hex>`` over ``"<ts>.<body>"``) and ``standard`` (Standard Webhooks). All but ``standard``
key the HMAC with the secret's UTF-8 bytes, a ``whsec_`` prefix included, as Stripe does; ``standard``
with the base64-decoded bytes after ``whsec_``. The timestamped schemes carry one signature per secret,
so receivers keep working while a secret is rotated. No message here ever contains a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import DispatcherError
from .models import Signing

SCHEMES: tuple[str, ...] = ("mautic", "hex", "timestamped", "standard")
DEFAULT_HEADER: dict[str, str] = {
    "mautic": "Webhook-Signature",
    "hex": "X-Webhook-Signature",
    "timestamped": "Webhook-Signature",
    "standard": "webhook-signature",
}
_PREFIXED = ("mautic", "hex")  # the schemes whose header holds one bare signature a prefix can go before
_STANDARD_ID, _STANDARD_TIMESTAMP = "webhook-id", "webhook-timestamp"
_WHSEC = "whsec_"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 7230 token: what a header name may be
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # unix seconds; bounded so int() and the age stay sane
_STANDARD_ERROR = (
    "the standard scheme needs a whsec_ secret (whsec_ + base64 of 24-64 random bytes); "
    "leave --secret out to have one generated"
)


class SignatureError(DispatcherError):
    """The request is not signed by any secret we were given."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


def is_header_name(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None


def header_name(signing: Signing) -> str:
    """The header the signature goes in, spelled as configured (PHP receivers read it with exact case)."""
    return signing.header or DEFAULT_HEADER[_known(signing.scheme)]


def check_signing(scheme: str, header: str | None = None, prefix: str = "") -> Signing:
    """The signing options as a Signing, or a DispatcherError saying what is wrong with them."""
    _known(scheme)
    if header is not None and not is_header_name(header):
        raise DispatcherError(f"signature header {header!r} is not a valid HTTP header name")
    if any(not " " <= char <= "~" for char in prefix):
        # It goes into a header value: a line break would let it add headers of its own.
        raise DispatcherError("the signature prefix must be printable ASCII, without control characters")
    if header is not None and scheme == "standard":
        raise DispatcherError("the standard scheme's header names are fixed: leave --signature-header out")
    if prefix and scheme not in _PREFIXED:
        raise DispatcherError(f"a signature prefix only goes with the mautic and hex schemes, not {scheme}")
    return Signing(scheme, header, prefix)


def check_secret(secret: str, scheme: str) -> str:
    """``secret`` if the scheme can sign with it, else a DispatcherError that does not repeat it."""
    _known(scheme)
    if not secret:
        raise DispatcherError("the signing secret must not be empty")
    if scheme == "standard":
        key = _standard_key(secret, strict=True)
        if not 24 <= len(key) <= 64:
            raise DispatcherError(_STANDARD_ERROR)
    return secret


def new_secret(scheme: str = "mautic") -> str:
    """A fresh secret from the CSPRNG, in the form the scheme expects."""
    if _known(scheme) == "standard":
        return whsec_secret()
    return _secrets.token_urlsafe(32)


def whsec_secret() -> str:
    """A fresh secret in the Standard Webhooks form (``whsec_`` + base64 of 32 random bytes), which
    every scheme can sign with: the others key their HMAC with the whole string, as Stripe does.
    The HTTP API hands out this form, as the seed's API documents it, whatever the scheme."""
    return _WHSEC + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def sign(body: bytes, secrets: Sequence[str], signing: Signing, *, message_id: str, timestamp: int) -> dict[str, str]:
    """The headers that sign ``body``. ``secrets`` newest first; the single-signature schemes use the newest."""
    if not secrets:
        raise DispatcherError("no secret to sign with")
    check_signing(signing.scheme, signing.header, signing.prefix)
    signer, _ = _SCHEMES[signing.scheme]
    return signer(body, secrets, signing, message_id, timestamp)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: str | Iterable[str],
    scheme: str = "mautic",
    signature_header: str | None = None,
    signature_prefix: str | None = None,
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless ``body`` carries a valid signature by one of ``secrets``.

    Header names are matched case-insensitively; signatures are compared in constant time. The
    timestamped schemes also refuse a timestamp more than ``tolerance`` seconds from ``now``, either
    way, so a captured request cannot be replayed later. Bad options raise a plain DispatcherError.
    """
    signing = check_signing(scheme, signature_header, signature_prefix or "")
    if tolerance < 0:
        raise DispatcherError("the tolerance must be 0 or more seconds")
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    if scheme == "standard":
        for secret in candidates:
            _standard_key(secret, strict=False)  # a secret that cannot be a key is a bad option, said up front
    _, verifier = _SCHEMES[scheme]
    verifier(body, _Received(headers), candidates, signing, _Window(time.time() if now is None else now, tolerance))


class _Received:
    """The request's headers, looked up case-insensitively; a missing one is a SignatureError."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = {name.lower(): value for name, value in headers.items()}

    def __getitem__(self, name: str) -> str:
        value = self._headers.get(name.lower(), "").strip()
        if not value:
            raise SignatureError(f"no {name} header")
        return value


@dataclass(frozen=True)
class _Window:
    """The span of timestamps accepted: ``tolerance`` seconds either side of ``now``."""

    now: float
    tolerance: int

    def timestamp(self, text: str, header: str) -> int:
        if not _TIMESTAMP.fullmatch(text):
            raise SignatureError(f"malformed {header} header: the timestamp is not whole unix seconds")
        stamp = int(text)
        if stamp < self.now - self.tolerance:
            raise SignatureError(f"timestamp {stamp} is {self.now - stamp:.0f} s old (tolerance {self.tolerance} s)")
        if stamp > self.now + self.tolerance:
            raise SignatureError(
                f"timestamp {stamp} is {stamp - self.now:.0f} s in the future (tolerance {self.tolerance} s)"
            )
        return stamp


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


# mautic and hex: one signature of the body alone, by the newest secret.
_BODY_ENCODING: dict[str, Callable[[bytes], str]] = {"mautic": _b64, "hex": bytes.hex}


def _body_signature(body: bytes, secret: str, signing: Signing) -> str:
    return signing.prefix + _BODY_ENCODING[signing.scheme](_mac(secret.encode("utf-8"), body))


def _sign_body(
    body: bytes, secrets: Sequence[str], signing: Signing, message_id: str, timestamp: int
) -> dict[str, str]:
    return {header_name(signing): _body_signature(body, secrets[0], signing)}


def _verify_body(body: bytes, headers: _Received, secrets: list[str], signing: Signing, window: _Window) -> None:
    name = header_name(signing)
    received = headers[name].encode()
    if not _any_match(received, (_body_signature(body, secret, signing).encode() for secret in secrets)):
        raise SignatureError(f"{name} does not match the body for any secret")


# timestamped: "t=<ts>,v1=<hex>,v1=<hex>", each over "<ts>.<body>".
def _timestamped_signature(body: bytes, secret: str, timestamp: int) -> str:
    return _mac(secret.encode("utf-8"), f"{timestamp}.".encode() + body).hex()


def _sign_timestamped(
    body: bytes, secrets: Sequence[str], signing: Signing, message_id: str, timestamp: int
) -> dict[str, str]:
    signatures = ",".join(f"v1={_timestamped_signature(body, secret, timestamp)}" for secret in secrets)
    return {header_name(signing): f"t={timestamp},{signatures}"}


def _verify_timestamped(body: bytes, headers: _Received, secrets: list[str], signing: Signing, window: _Window) -> None:
    name = header_name(signing)
    fields = [item.strip().partition("=") for item in headers[name].split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    received = [value.encode() for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not received:
        raise SignatureError(f"malformed {name} header: expected t=<timestamp>,v1=<signature>")
    stamp = window.timestamp(stamps[0], name)
    expected = [_timestamped_signature(body, secret, stamp).encode() for secret in secrets]
    if not any(_any_match(signature, expected) for signature in received):
        raise SignatureError(f"no signature in {name} matches the body for any secret")


# standard: webhook-signature "v1,<base64> v1,<base64>", each over "<id>.<ts>.<body>", keyed with decoded bytes.
def _standard_key(secret: str, strict: bool) -> bytes:
    """The HMAC key in a whsec_ secret. ``strict``: ours must be exact; receivers also take unprefixed or unpadded."""
    if strict and not secret.startswith(_WHSEC):
        raise DispatcherError(_STANDARD_ERROR)
    text = secret.removeprefix(_WHSEC)
    if not strict:
        text += "=" * (-len(text) % 4)
    try:
        key = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise DispatcherError(_STANDARD_ERROR if strict else "a standard scheme secret is base64, after whsec_ or bare")
    return key


def _standard_signature(body: bytes, key: bytes, message_id: str, timestamp: int) -> bytes:
    return _mac(key, f"{message_id}.{timestamp}.".encode() + body)


def _sign_standard(
    body: bytes, secrets: Sequence[str], signing: Signing, message_id: str, timestamp: int
) -> dict[str, str]:
    signatures = (_standard_signature(body, _standard_key(s, strict=True), message_id, timestamp) for s in secrets)
    return {
        _STANDARD_ID: message_id,
        _STANDARD_TIMESTAMP: str(timestamp),
        DEFAULT_HEADER["standard"]: " ".join(f"v1,{_b64(signature)}" for signature in signatures),
    }


def _verify_standard(body: bytes, headers: _Received, secrets: list[str], signing: Signing, window: _Window) -> None:
    name = DEFAULT_HEADER["standard"]
    message_id, signature_list = headers[_STANDARD_ID], headers[name]
    stamp = window.timestamp(headers[_STANDARD_TIMESTAMP], _STANDARD_TIMESTAMP)
    pairs = [item.partition(",") for item in signature_list.split()]
    received = [_b64decode(value) for version, _, value in pairs if version == "v1"]
    if not received:
        raise SignatureError(f"malformed {name} header: expected v1,<signature>")
    expected = [_standard_signature(body, _standard_key(s, strict=False), message_id, stamp) for s in secrets]
    if not any(_any_match(signature, expected) for signature in received):
        raise SignatureError(f"no signature in {name} matches the body for any secret")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _any_match(received: bytes, expected: Iterable[bytes]) -> bool:
    # Every candidate is compared, in constant time, so the time taken tells nothing about which was close.
    matches = [hmac.compare_digest(received, candidate) for candidate in expected]
    return any(matches)


def _known(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise DispatcherError(f"unknown signature scheme {scheme!r}: use mautic, hex, timestamped or standard")
    return scheme


_Signer = Callable[[bytes, Sequence[str], Signing, str, int], dict[str, str]]
_Verifier = Callable[[bytes, _Received, list[str], Signing, _Window], None]
_SCHEMES: dict[str, tuple[_Signer, _Verifier]] = {
    "mautic": (_sign_body, _verify_body),
    "hex": (_sign_body, _verify_body),
    "timestamped": (_sign_timestamped, _verify_timestamped),
    "standard": (_sign_standard, _verify_standard),
}
