"""What a request carries besides its body: delivery headers, an endpoint's fixed headers, its signature.

Pure: plain values in, a dict of headers out. Header names are sent exactly as
spelled here or as the user configured them, because PHP receivers look them
up with exact case (``getallheaders()['X-LeaseFetcher-Signature']``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .. import __version__
from ..errors import DispatcherError
from ..models import Batch, Endpoint, Signing
from ..signing import header_name, is_header_name, sign
from .formats import render

EVENT_HEADER = "X-Webhook-Event"
DELIVERY_ID_HEADER = "X-Webhook-Delivery-Id"
USER_AGENT = f"dispatcher/{__version__}"
# Sent unless the endpoint's fixed headers give their own.
_DEFAULTS = {"Content-Type": "application/json", "User-Agent": USER_AGENT}

# Schemes that put one signature per valid secret into a request, so a
# receiver still holding the old secret keeps accepting during a rotation.
MULTI_SECRET_SCHEMES = ("timestamped", "standard")

SUCCESS_RULES = ("2xx", "200")

# Set by the HTTP client or by us for every request; a fixed header may not replace them.
_RESERVED = {"content-length", "host", "transfer-encoding", "connection"}


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as a (name, value) pair, the name's case kept."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not is_header_name(name):
        raise DispatcherError(f"invalid header {text!r}: use 'Name: value'")
    if any(ord(char) < 32 and char != "\t" or ord(char) == 127 for char in value):
        raise DispatcherError(f"invalid header {name!r}: the value has control characters")
    if not value.isascii():
        # HTTP sends header bytes without a charset; receivers could not tell what other text meant.
        raise DispatcherError(f"invalid header {name!r}: the value must be ASCII")
    return name, value


def check_headers(headers: Sequence[tuple[str, str]], signing: Signing) -> tuple[tuple[str, str], ...]:
    """Fixed headers that do not collide with each other or with the ones the dispatcher sets."""
    taken = _RESERVED | {name.lower() for name in _computed_names(signing)}
    seen: set[str] = set()
    for name, _ in headers:
        lowered = name.lower()
        if lowered in taken:
            raise DispatcherError(f"invalid header {name!r}: the dispatcher sets it itself")
        if lowered in seen:
            raise DispatcherError(f"invalid header {name!r}: given twice")
        seen.add(lowered)
    return tuple(headers)


def _computed_names(signing: Signing) -> list[str]:
    names = [EVENT_HEADER, DELIVERY_ID_HEADER, header_name(signing)]
    if signing.scheme == "standard":
        names += ["webhook-id", "webhook-timestamp"]
    return names


def check_success(rule: str) -> str:
    if rule not in SUCCESS_RULES:
        raise DispatcherError(f"invalid success rule {rule!r}: use 2xx or 200")
    return rule


def is_success(status: int, rule: str) -> bool:
    return status == 200 if rule == "200" else 200 <= status < 300


def signing_secrets(endpoint: Endpoint, now: datetime) -> list[str]:
    """The secrets a request is signed with, newest first."""
    if endpoint.signing.scheme not in MULTI_SECRET_SCHEMES:
        return [endpoint.secret]
    return [endpoint.secret] + [old.secret for old in endpoint.retired_secrets if old.until > now]


def build_request(endpoint: Endpoint, batch: Batch, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``batch``'s request to ``endpoint``, signed as of ``now``."""
    body = render(batch, endpoint.format)
    types = dict.fromkeys(event.type for event in batch.events)  # first appearance, no repeats
    fixed = dict(endpoint.headers)
    replaced = {name.lower() for name in fixed}
    headers = {name: value for name, value in _DEFAULTS.items() if name.lower() not in replaced}
    headers.update(fixed)
    headers[EVENT_HEADER] = ",".join(types)
    headers[DELIVERY_ID_HEADER] = batch.id
    signature = sign(
        body,
        signing_secrets(endpoint, now),
        endpoint.signing,
        message_id=batch.id,
        timestamp=int(now.timestamp()),
    )
    return body, {**headers, **signature}
