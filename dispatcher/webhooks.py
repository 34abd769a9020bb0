"""Endpoints as the HTTP API and the admin pages show them: the seed's "webhooks".

The seed's API spells three things its own way, and this module translates them for
:mod:`dispatcher.endpoints`: ``max_retries`` (retries after the first attempt: ``max_attempts``
minus one), ``headers`` as an object of name to value, and ``is_active`` (``enabled``). A secret
made here has the ``whsec_`` form the seed shows, whatever the signature scheme.

Until ``description`` is an endpoint setting (the settings table), it is kept beside the others
here, so the API and the pages never need to know.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from . import endpoint_view, endpoints, ping
from .durations import parse_duration
from .errors import DispatcherError
from .models import Endpoint, Outcome, Settings
from .settings import MAX_ATTEMPTS
from .signing import whsec_secret
from .store import Store

MAX_DESCRIPTION = 1000  # characters: a note for people, not a document

Health = Literal["enabled", "failing", "disabled"]


@dataclass(frozen=True)
class Webhook:
    endpoint: Endpoint
    description: str | None


def check_description(text: str) -> str:
    """Free text for people, shown on pages (escaped) and in lists: no control characters but line breaks."""
    if len(text) > MAX_DESCRIPTION:
        raise DispatcherError(f"invalid description: {len(text)} characters, at most {MAX_DESCRIPTION}")
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in text):
        raise DispatcherError("invalid description: no control characters")
    return text


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
    if settings.get("headers") is not None:
        settings["headers"] = tuple(settings["headers"].items())
    return settings


def create(store: Store, url: str, description: str | None = None, **fields: Any) -> Webhook:
    """Register an endpoint from the API's fields; a secret is made (``whsec_``) when none is given."""
    if description is not None:
        check_description(description)
    settings = endpoint_settings(fields)
    if settings.get("secret") is None:
        settings["secret"] = whsec_secret()
    endpoint = endpoints.add(store, url, **settings)
    if description is not None:
        store.set_endpoint_description(endpoint.id, description)
    return Webhook(endpoint, description)


def change(store: Store, endpoint_id: int, now: datetime, **fields: Any) -> Webhook:
    """Change the given fields, as ``endpoint update`` does: None returns a setting to its default."""
    described = "description" in fields
    description = fields.pop("description", None)
    if description is not None:
        check_description(description)
    if fields:
        endpoints.update(store, endpoint_id, now=now, **endpoint_settings(fields))
    if described:
        store.set_endpoint_description(endpoint_id, description)
    return get(store, endpoint_id)


def rotate_secret(
    store: Store, endpoint_id: int, now: datetime, secret: str | None = None, grace: float | str | None = None
) -> tuple[Endpoint, str | None]:
    """:func:`dispatcher.endpoints.rotate_secret` with a made secret in the ``whsec_`` form, and the
    grace period as seconds or the CLI's duration text (default 24 h)."""
    seconds = endpoints.DEFAULT_GRACE if grace is None else parse_duration(grace) if isinstance(grace, str) else grace
    return endpoints.rotate_secret(store, endpoint_id, now, secret or whsec_secret(), float(seconds))


def get(store: Store, endpoint_id: int) -> Webhook:
    endpoint = store.endpoint(endpoint_id)
    return Webhook(endpoint, store.endpoint_descriptions([endpoint_id]).get(endpoint_id))


def page(store: Store, after: int | None, limit: int) -> list[Webhook]:
    """Up to ``limit`` webhooks after the id ``after``, by id."""
    found = store.endpoints_after(after, limit)
    descriptions = store.endpoint_descriptions([endpoint.id for endpoint in found])
    return [Webhook(endpoint, descriptions.get(endpoint.id)) for endpoint in found]


def as_json(webhook: Webhook, defaults: Settings, show_secret: bool = False) -> dict[str, Any]:
    """The endpoint's JSON (settings in force, the URL without a login) in the seed's terms; the
    secret only with ``show_secret`` (the create answer)."""
    endpoint = webhook.endpoint
    data = endpoint_view.as_json(endpoint, defaults)
    data.update(
        description=webhook.description,
        is_active=endpoint.enabled,
        max_retries=data["max_attempts"] - 1,
        headers=dict(endpoint.headers),
    )
    if show_secret:
        data["secret"] = endpoint.secret
    return data


def secrets_of(endpoint: Endpoint) -> dict[str, Any]:
    """The secret, and the retired ones that still sign until their time is up."""
    retired = [{"secret": old.secret, "until": old.until} for old in endpoint.retired_secrets]
    return {"id": endpoint.id, "secret": endpoint.secret, "retired_secrets": retired}


def health(endpoint: Endpoint) -> tuple[Health, str | None]:
    """Whether it is sending, failing (requests fail but it is still enabled), or disabled, and why."""
    if not endpoint.enabled:
        return "disabled", endpoint.disabled_reason
    if endpoint.consecutive_failures:
        return "failing", f"{endpoint.consecutive_failures} failed in a row: {endpoint.last_error}"
    return "enabled", None


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
