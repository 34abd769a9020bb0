"""Endpoints as the HTTP API and the admin pages show them: the seed's "webhooks".

The seed's API spells three things its own way, and this module translates them for
:mod:`dispatcher.endpoints`: ``max_retries`` (retries after the first attempt: ``max_attempts``
minus one), ``headers`` as an object of name to value, and ``is_active`` (``enabled``). A secret
made here has the ``whsec_`` form the seed shows, whatever the signature scheme.

Until ``description`` is an endpoint setting (the settings table), it is kept beside the others
here, so the API and the pages never need to know.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import endpoint_view, endpoints, ping
from .clock import to_text
from .config import MAX_ATTEMPTS
from .durations import parse_duration
from .errors import DispatcherError
from .models import DeliverySettings, Endpoint, Outcome
from .signing import whsec_secret
from .store import Store


def endpoint_settings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The API's fields as :func:`dispatcher.endpoints.add` and ``update`` take them."""
    settings = dict(fields)
    if "max_retries" in settings:
        if "max_attempts" in settings:
            raise DispatcherError("give max_retries or max_attempts, not both (max_attempts is max_retries + 1)")
        retries = settings.pop("max_retries")
        if retries is not None and not 0 <= retries < MAX_ATTEMPTS:
            raise DispatcherError(f"invalid max_retries {retries}: use 0 to {MAX_ATTEMPTS - 1}")
        settings["max_attempts"] = None if retries is None else retries + 1
    return settings


def create(store: Store, url: str, **fields: Any) -> Endpoint:
    """Register an endpoint from the API's fields; a secret is made (``whsec_``) when none is given."""
    settings = endpoint_settings(fields)
    if settings.get("secret") is None:
        settings["secret"] = whsec_secret()
    return endpoints.add(store, url, **settings)


def change(store: Store, endpoint_id: int, now: datetime, **fields: Any) -> Endpoint:
    """Change the given fields, as ``endpoint update`` does: None returns a setting to its default."""
    if not fields:
        return store.endpoint(endpoint_id)
    return endpoints.update(store, endpoint_id, now=now, **endpoint_settings(fields))


def rotate_secret(
    store: Store, endpoint_id: int, now: datetime, secret: str | None = None, grace: float | str | None = None
) -> tuple[Endpoint, datetime | None]:
    """:func:`dispatcher.endpoints.rotate_secret` with a made secret in the ``whsec_`` form, and the
    grace period as seconds or the CLI's duration text (default 24 h)."""
    seconds = endpoints.DEFAULT_GRACE if grace is None else parse_duration(grace) if isinstance(grace, str) else grace
    return endpoints.rotate_secret(store, endpoint_id, now, secret or whsec_secret(), float(seconds))


def as_json(endpoint: Endpoint, defaults: DeliverySettings, show_secret: bool = False) -> dict[str, Any]:
    """The endpoint's JSON (settings in force, the URL without a login) in the seed's terms; the
    secret only with ``show_secret`` (the create answer)."""
    data = endpoint_view.as_json(endpoint, defaults)
    data.update(is_active=endpoint.enabled, max_retries=data["max_attempts"] - 1)
    if show_secret:
        data["secret"] = endpoint.secret
    return data


def secrets_of(endpoint: Endpoint) -> dict[str, Any]:
    """The secret, and the retired ones that still sign until their time is up."""
    retired = [{"secret": old.secret, "until": to_text(old.until)} for old in endpoint.retired_secrets]
    return {"id": endpoint.id, "secret": endpoint.secret, "retired_secrets": retired}


def health(endpoint: Endpoint) -> tuple[endpoint_view.Health, str | None]:
    """Whether it is sending, failing (requests fail but it is still enabled), or disabled, and why."""
    state = endpoint_view.health(endpoint.enabled, endpoint.consecutive_failures)
    if state == "disabled":
        return state, endpoint.disabled_reason
    if state == "failing":
        return state, f"{endpoint.consecutive_failures} failed in a row: {endpoint.last_error}"
    return state, None


def test_report(outcome: Outcome) -> dict[str, Any]:
    """A test request's result as the API answers it: the receiver's status, headers and body
    (its start, as `endpoint test` shows it)."""
    shown = ping.describe(outcome)
    return {
        "ok": shown["accepted"],
        "status_code": shown["status_code"],
        "duration_ms": shown["duration_ms"],
        "headers": shown["response_headers"],
        "body": shown["response_body"],
        "error": shown["error"],
    }
