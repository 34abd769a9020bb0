"""The endpoint as users see it: its JSON, the settings it inherits, and warnings about it."""

from __future__ import annotations

from typing import Any

from .destinations import RefusedDestination, UnresolvedHost, public_url
from .endpoint_settings import FOLLOWS_GLOBAL
from .models import Endpoint, Settings
from .settings import effective, value_of
from .signing import header_name
from .urls import destination


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


def inherited(endpoint: Endpoint, defaults: Settings) -> tuple[str, ...]:
    """The settings in force for the endpoint that come from the global config: it has no value of
    its own, and nothing else decides (the raw format sends one event per request)."""
    in_force = effective(endpoint, defaults)
    return tuple(
        name
        for name in FOLLOWS_GLOBAL
        if getattr(endpoint, name) is None and value_of(in_force, name) == value_of(defaults, name)
    )


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
