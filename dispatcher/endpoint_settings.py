"""Endpoint settings: which there are, their values for a new endpoint, and their checks.

``add`` and ``update`` check the endpoint as a whole, because some settings
only make sense together: a ``standard`` signature needs a ``whsec_`` secret,
and a fixed header may not take the signature header's name.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from .errors import DispatcherError
from .formats import check_format
from .models import Endpoint
from .retry import parse_policy
from .settings import (
    check_batch_size,
    check_disable_after,
    check_max_age,
    check_max_attempts,
    check_notify_command,
    check_order,
    check_timeout,
)
from .signing import check_secret, check_signing
from .urls import check_url
from .wire import check_headers, check_success, parse_header

# Every setting `add` takes and `update` may change, with its value for a new endpoint.
SETTINGS: dict[str, Any] = {
    "url": None,
    "name": None,
    "events": ("*",),
    "secret": None,
    # None: follow the global setting (config, then built-in).
    "order": None,
    "batch_size": None,
    "timeout": None,
    "max_attempts": None,
    "retry": None,
    "max_age": None,
    "disable_after": None,
    "notify_command": None,
    # The wire contract.
    "format": "batch",
    "signature": "mautic",
    "signature_header": None,
    "signature_prefix": "",
    "headers": (),
    "success": "2xx",
    # Where requests may go.
    "allow_private": None,
    "ca_bundle": None,
}
# The settings an endpoint may leave to the global one: its own value None.
FOLLOWS_GLOBAL = (
    "order",
    "batch_size",
    "timeout",
    "max_attempts",
    "retry",
    "max_age",
    "disable_after",
    "notify_command",
    "allow_private",
)
# The settings that decide whether a request can succeed at all: changing one makes the batch
# waiting for its retry due at once, rather than when the schedule said (up to hours later).
RETRY_AT_ONCE = (
    "url",
    "secret",
    "format",
    "signature",
    "signature_header",
    "signature_prefix",
    "headers",
    "success",
    "allow_private",
    "ca_bundle",
)

Header = str | tuple[str, str]  # "Name: value" or (name, value)


def check_ca_bundle(path: str) -> str:
    """A readable file of PEM certificates, kept as an absolute path: cron runs elsewhere."""
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(absolute) or not os.access(absolute, os.R_OK):
        raise DispatcherError(f"invalid CA bundle {path!r}: not a readable file")
    return absolute


def check_name(name: str) -> str:
    """A label printed in one line of a list: a newline or terminal escape would break it or forge others."""
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise DispatcherError(f"invalid name {name!r}: no control characters or line breaks")
    return name


def check_events(patterns: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(pattern.strip() for pattern in patterns)
    if not cleaned or any(not pattern for pattern in cleaned):
        raise DispatcherError("invalid event pattern: patterns must be non-empty (use * for all events)")
    return cleaned


def _pairs(headers: Sequence[Header]) -> tuple[tuple[str, str], ...]:
    return tuple(
        parse_header(item) if isinstance(item, str) else parse_header(f"{item[0]}: {item[1]}") for item in headers
    )


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "url": check_url,
    "name": check_name,
    "events": check_events,
    "order": check_order,
    "batch_size": check_batch_size,
    "timeout": check_timeout,
    "max_attempts": check_max_attempts,
    "retry": lambda policy: parse_policy(policy) if isinstance(policy, str) else policy,
    "max_age": check_max_age,
    "disable_after": check_disable_after,
    "notify_command": check_notify_command,
    "format": check_format,
    "success": check_success,
    "headers": _pairs,
    "ca_bundle": check_ca_bundle,
}


def check_all(fields: dict[str, Any]) -> dict[str, Any]:
    """Every setting of a whole endpoint, validated alone and together."""
    if fields["url"] is None:
        raise DispatcherError("invalid URL: an endpoint needs one")
    checked = {
        name: _CHECKS[name](value) if name in _CHECKS and value is not None else value for name, value in fields.items()
    }
    signing = check_signing(checked["signature"], checked["signature_header"] or None, checked["signature_prefix"])
    checked["signature_header"] = signing.header
    checked["headers"] = check_headers(checked["headers"], signing)
    if not checked["secret"]:
        raise DispatcherError("invalid secret: must not be empty")
    check_secret(checked["secret"], signing.scheme)
    return checked


def refuse_unknown(settings: dict[str, Any]) -> None:
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise DispatcherError(f"unknown endpoint setting: {', '.join(sorted(unknown))}")


def none_is_default(settings: dict[str, Any]) -> dict[str, Any]:
    """None asks for a setting's default: the global one, or the new-endpoint value of a wire setting."""
    return {name: SETTINGS[name] if value is None else value for name, value in settings.items()}


def settings_of(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "name": endpoint.name,
        "events": endpoint.events,
        "secret": endpoint.secret,
        "order": endpoint.order,
        "batch_size": endpoint.batch_size,
        "timeout": endpoint.timeout,
        "max_attempts": endpoint.max_attempts,
        "retry": endpoint.retry,
        "max_age": endpoint.max_age,
        "disable_after": endpoint.disable_after,
        "notify_command": endpoint.notify_command,
        "format": endpoint.format,
        "signature": endpoint.signing.scheme,
        "signature_header": endpoint.signing.header,
        "signature_prefix": endpoint.signing.prefix,
        "headers": endpoint.headers,
        "success": endpoint.success,
        "allow_private": endpoint.allow_private,
        "ca_bundle": endpoint.ca_bundle,
    }
