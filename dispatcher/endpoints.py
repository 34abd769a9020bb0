"""Endpoint settings: validation, secret rotation, and the JSON users see.

``add`` and ``update`` check the endpoint as a whole, because some settings
only make sense together: a ``standard`` signature needs a ``whsec_`` secret,
and a fixed header may not take the signature header's name.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .clock import SystemClock, to_text
from .destinations import RefusedDestination, UnresolvedHost, public_url
from .durations import format_duration
from .errors import DispatcherError
from .formats import check_format
from .models import Endpoint, RetiredSecret, Settings
from .retry import parse_policy
from .settings import (
    check_batch_size,
    check_disable_after,
    check_max_age,
    check_max_attempts,
    check_notify_command,
    check_order,
    check_timeout,
    effective,
    value_of,
)
from .signing import check_secret, check_signing, header_name, new_secret
from .store import Store
from .urls import check_url, destination
from .wire import MULTI_SECRET_SCHEMES, check_headers, check_success, parse_header

DEFAULT_GRACE = 24 * 3600.0  # how long a rotated-out secret still signs, as Svix does
MAX_GRACE = 30 * 24 * 3600.0

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


def reach_warning(endpoint: Endpoint, defaults: Settings) -> str | None:
    """Why `process` would refuse to send to this endpoint's URL as things stand, or None.

    A warning, not an error: DNS may change, and the setting may be lifted later. A name that
    does not resolve (yet) is no warning either.
    """
    where = destination(endpoint.url)
    try:
        effective(endpoint, defaults).reach.resolve(where.host, where.port)
    except RefusedDestination as refusal:
        return f"requests to this URL will fail: {refusal}"
    except UnresolvedHost:
        pass
    return None


def warnings(endpoint: Endpoint, defaults: Settings) -> list[str]:
    """What a person setting up ``endpoint`` should hear about, though it is no error."""
    found = [reach_warning(endpoint, defaults)]
    if endpoint.format == "raw" and endpoint.batch_size not in (None, 1):
        # Kept rather than refused: it applies again if the format changes back.
        size = endpoint.batch_size
        found.append(f"the raw format sends one event per request: batch size {size} applies only to other formats")
    return [warning for warning in found if warning]


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


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
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


def add(store: Store, url: str, **settings: Any) -> Endpoint:
    """Register an endpoint (settings as in :data:`SETTINGS`); a secret is generated when none is given."""
    _refuse_unknown(settings)
    fields = {**SETTINGS, **_none_is_default(settings), "url": url}
    if fields["secret"] is None:
        fields["secret"] = new_secret(fields["signature"])
    return store.endpoint(store.insert_endpoint(_checked(fields)))


def update(store: Store, endpoint_id: int, now: datetime | None = None, **changes: Any) -> Endpoint:
    """Change the given settings; others stay. None returns a global one to the global default.

    A change to one of :data:`RETRY_AT_ONCE` makes the batch waiting for its retry due at
    ``now`` (default: the system clock's), in the same transaction.
    """
    _refuse_unknown(changes)
    changes = _none_is_default(changes)
    current = store.endpoint(endpoint_id)
    before = _settings_of(current)
    fields = {**before, **changes}
    if "secret" not in changes:
        try:
            check_secret(current.secret, fields["signature"])
        except DispatcherError:
            raise DispatcherError(
                f"endpoint {endpoint_id}'s secret does not suit the {fields['signature']} scheme: "
                "give a new one with --secret (standard: whsec_ + base64 of 24-64 random bytes)"
            ) from None
    checked = _checked(fields)
    row = {name: checked[name] for name in changes}
    if checked["signature"] != current.signing.scheme:
        # Old secrets signed for the old scheme, which receivers no longer check; a standard one may not even suit.
        row["retired_secrets"] = ()
    retry_at_once = any(checked[name] != before[name] for name in RETRY_AT_ONCE)
    store.update_endpoint(endpoint_id, row, due_at=to_text(now or SystemClock().now()) if retry_at_once else None)
    return store.endpoint(endpoint_id)


def retry_now(store: Store, endpoint_id: int, now: datetime) -> tuple[Endpoint, int]:
    """Make the batch the endpoint is waiting to retry due at ``now``; returns the endpoint and
    how many batches were waiting (0 or 1). A disabled endpoint still waits for `enable`."""
    waiting = store.update_endpoint(endpoint_id, {}, due_at=to_text(now))
    return store.endpoint(endpoint_id), waiting


def inherited(endpoint: Endpoint, defaults: Settings) -> tuple[str, ...]:
    """The settings in force for the endpoint that come from the global config: it has no value of
    its own, and nothing else decides (the raw format sends one event per request)."""
    in_force = effective(endpoint, defaults)
    return tuple(
        name
        for name in FOLLOWS_GLOBAL
        if getattr(endpoint, name) is None and value_of(in_force, name) == value_of(defaults, name)
    )


def _refuse_unknown(settings: dict[str, Any]) -> None:
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise DispatcherError(f"unknown endpoint setting: {', '.join(sorted(unknown))}")


def _none_is_default(settings: dict[str, Any]) -> dict[str, Any]:
    """None asks for a setting's default: the global one, or the new-endpoint value of a wire setting."""
    return {name: SETTINGS[name] if value is None else value for name, value in settings.items()}


def _settings_of(endpoint: Endpoint) -> dict[str, Any]:
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


def rotate_secret(
    store: Store, endpoint_id: int, now: datetime, secret: str | None = None, grace: float = DEFAULT_GRACE
) -> tuple[Endpoint, str | None]:
    """Give the endpoint a new secret; the old one still signs for ``grace`` seconds.

    Only the schemes that carry several signatures (``timestamped``,
    ``standard``) can use the old secret; the others sign with the new one at
    once. Returns the endpoint and the time until which requests also carry
    the old secret's signature (None: they do not). A batch waiting for its
    retry is due at once: the new secret may be the one the receiver expects.
    """
    if not 0 <= grace <= MAX_GRACE:
        raise DispatcherError(f"invalid grace period: use 0s to {format_duration(MAX_GRACE)}")
    endpoint = store.endpoint(endpoint_id)
    scheme = endpoint.signing.scheme
    new = check_secret(secret, scheme) if secret is not None else new_secret(scheme)
    if new == endpoint.secret:
        raise DispatcherError("the new secret is the current one")
    now_text = to_text(now)
    still_valid = [old for old in endpoint.retired_secrets if old.until > now_text and old.secret != new]
    until = to_text(now + timedelta(seconds=grace))
    retiring = [RetiredSecret(endpoint.secret, until)] if grace > 0 else []
    store.update_endpoint(endpoint_id, {"secret": new, "retired_secrets": retiring + still_valid}, due_at=now_text)
    old_signs_until = until if retiring and scheme in MULTI_SECRET_SCHEMES else None
    return store.endpoint(endpoint_id), old_signs_until


def enable(store: Store, endpoint_id: int, now: datetime) -> Endpoint:
    """Resume sending: the failure count starts again, and what waited is due at once."""
    store.enable_endpoint(endpoint_id, to_text(now))
    return store.endpoint(endpoint_id)


def disable(store: Store, endpoint_id: int, now: datetime, reason: str = "disabled by user") -> Endpoint:
    store.disable_endpoint(endpoint_id, reason, to_text(now))
    return store.endpoint(endpoint_id)


def as_json(endpoint: Endpoint, defaults: Settings, show_secret: bool = False) -> dict[str, Any]:
    """The endpoint as users see it: settings in force, secrets only on request."""
    settings = effective(endpoint, defaults)
    data: dict[str, Any] = {
        "id": endpoint.id,
        "name": endpoint.name,
        "url": endpoint.url if show_secret else public_url(endpoint.url),  # a user:password@ is a secret too
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "order": settings.order,
        "batch_size": settings.batch_size,
        "timeout": settings.timeout,
        "max_attempts": settings.max_attempts,
        "retry": settings.retry.spec(),
        "max_age": settings.max_age,
        "disable_after": settings.disable_after,
        "notify_command": settings.notify_command,
        "format": endpoint.format,
        "signature": endpoint.signing.scheme,
        "signature_header": header_name(endpoint.signing),
        "signature_prefix": endpoint.signing.prefix,
        "headers": [f"{name}: {value}" for name, value in endpoint.headers],
        "success": endpoint.success,
        "allow_private": settings.reach.allow_private,
        "ca_bundle": endpoint.ca_bundle,
        "retired_secrets": [{"until": old.until} for old in endpoint.retired_secrets],
        "created_at": endpoint.created_at,
    }
    if show_secret:
        data["secret"] = endpoint.secret
        data["retired_secrets"] = [{"secret": old.secret, "until": old.until} for old in endpoint.retired_secrets]
    return data
