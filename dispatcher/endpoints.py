"""Endpoint settings: validation, the defaults chain, and the JSON users see."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .clock import to_text
from .errors import DispatcherError
from .models import Endpoint, Settings
from .settings import check_batch_size, check_max_attempts, check_order, check_timeout, effective
from .signing import new_secret
from .store import Store


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DispatcherError(f"invalid URL {url!r}: use an http:// or https:// URL with a host")
    return url


def check_events(patterns: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(pattern.strip() for pattern in patterns)
    if not cleaned or any(not pattern for pattern in cleaned):
        raise DispatcherError("invalid event pattern: patterns must be non-empty (use * for all events)")
    return cleaned


def _checked(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate the settings present in ``changes``; None leaves a setting to the global default."""
    checks: dict[str, Callable[[Any], Any]] = {
        "url": check_url,
        "events": check_events,
        "order": check_order,
        "batch_size": check_batch_size,
        "timeout": check_timeout,
        "max_attempts": check_max_attempts,
    }
    fields = {}
    for name, value in changes.items():
        if name == "secret" and value is not None and not value:
            raise DispatcherError("invalid secret: must not be empty")
        check = checks.get(name)
        fields[name] = check(value) if check and value is not None else value
    return fields


def add(
    store: Store,
    url: str,
    *,
    name: str | None = None,
    events: Sequence[str] = ("*",),
    secret: str | None = None,
    order: str | None = None,
    batch_size: int | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
) -> Endpoint:
    """Register an endpoint; a secret is generated when none is given."""
    fields = _checked(
        {
            "url": url,
            "name": name,
            "events": events,
            "secret": secret if secret is not None else new_secret(),
            "order": order,
            "batch_size": batch_size,
            "timeout": timeout,
            "max_attempts": max_attempts,
        }
    )
    return store.endpoint(store.insert_endpoint(fields))


def update(store: Store, endpoint_id: int, **changes: Any) -> Endpoint:
    """Change the given settings (keyword names as in :func:`add`); others stay."""
    unknown = set(changes) - {"url", "name", "events", "secret", "order", "batch_size", "timeout", "max_attempts"}
    if unknown:
        raise DispatcherError(f"unknown endpoint setting: {', '.join(sorted(unknown))}")
    store.update_endpoint(endpoint_id, _checked(changes))
    return store.endpoint(endpoint_id)


def enable(store: Store, endpoint_id: int) -> Endpoint:
    store.set_enabled(endpoint_id, True, None, None)
    return store.endpoint(endpoint_id)


def disable(store: Store, endpoint_id: int, now: datetime, reason: str = "disabled by user") -> Endpoint:
    store.set_enabled(endpoint_id, False, reason, to_text(now))
    return store.endpoint(endpoint_id)


def as_json(endpoint: Endpoint, defaults: Settings, show_secret: bool = False) -> dict[str, Any]:
    """The endpoint as users see it: effective settings, the secret only on request."""
    settings = effective(endpoint, defaults)
    data: dict[str, Any] = {
        "id": endpoint.id,
        "name": endpoint.name,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "order": settings.order,
        "batch_size": settings.batch_size,
        "timeout": settings.timeout,
        "max_attempts": settings.max_attempts,
        "created_at": endpoint.created_at,
    }
    if show_secret:
        data["secret"] = endpoint.secret
    return data
