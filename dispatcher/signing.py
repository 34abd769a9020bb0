"""Request signatures: computed for what we send, checked for what receivers get.

The default is Mautic's scheme, so a receiver written for Mautic accepts our
requests unchanged: ``Webhook-Signature`` is the base64 HMAC-SHA256 of the
exact body bytes, keyed with the secret's UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable, Mapping

from .errors import DispatcherError

SIGNATURE_HEADER = "Webhook-Signature"


class SignatureError(DispatcherError):
    """The request is not signed by any secret we were given."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


def new_secret() -> str:
    return _secrets.token_urlsafe(32)


def mautic_signature(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    return {SIGNATURE_HEADER: mautic_signature(body, secret)}


def verify(body: bytes, headers: Mapping[str, str], secrets: str | Iterable[str], scheme: str = "mautic") -> None:
    """Raise SignatureError unless ``body`` carries a valid signature by one of ``secrets``.

    Header names are matched case-insensitively; signatures are compared in
    constant time.
    """
    if scheme != "mautic":
        raise DispatcherError(f"unknown signature scheme {scheme!r}: use mautic")
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    received = _header(headers, SIGNATURE_HEADER)
    if received is None:
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    for secret in candidates:
        if hmac.compare_digest(received.strip().encode(), mautic_signature(body, secret).encode()):
            return
    raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
