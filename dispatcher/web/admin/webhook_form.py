"""The webhook form of the admin pages: its inputs as text, and the API's fields from a posted one.

A posted form goes through the API's own request models (webhook_models), so a page accepts
exactly what the API accepts and says so in the same words.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from ...endpoint_settings import SETTINGS, by_name
from ...errors import DispatcherError
from ...models import DeliverySettings, Endpoint
from ...sending.reach import public_url
from ...sending.request import parse_header
from ..api.webhook_models import SETTING_FIELDS, WebhookChange, WebhookCreate

# Settings the form leaves to the CLI or shows otherwise: the events are checkboxes plus a pattern
# input, the secret is made and shown once, max_attempts is asked as max_retries, and notify_command
# runs on the server, so the API does not take it.
_NOT_INPUTS = {"events", "secret", "max_attempts", "notify_command"}
# The inputs, each named as its API field, all from the settings table.
TEXT_INPUTS = tuple(name for name in SETTING_FIELDS if name not in _NOT_INPUTS)
PATTERNS = "event_patterns"
# What a read-only login sees in their place, in the settings' order: every setting the inputs set
# (max_attempts as max_retries), but those in the page's head.
SHOWN = tuple(
    "max_retries" if name == "max_attempts" else name
    for name in (setting.name for setting in SETTINGS)
    if name not in {"url", "name", "description", "secret", "notify_command"}
)
CHOICES = {setting.name: setting.flag.choices for setting in SETTINGS if setting.flag.choices}
# Chosen from a list and never empty: a new endpoint's value is preselected.
_WIRE = tuple(name for name in CHOICES if by_name(name).default is not None)
_SEPARATORS = re.compile(r"[\s,]+")


def raw(form: FormData) -> dict[str, Any]:
    """What the user typed and ticked, to show again with an error."""
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in (*TEXT_INPUTS, PATTERNS)}
    values["events"] = [str(value) for value in form.getlist("events")]
    return values


def blank() -> dict[str, Any]:
    """The inputs of a new webhook's form: the settings a new endpoint starts with."""
    return {
        **dict.fromkeys((*TEXT_INPUTS, PATTERNS), ""),
        "events": [],
        **{name: by_name(name).default for name in _WIRE},
    }


def values_of(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint's own settings as the form's inputs show them: empty where it follows the global one."""

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    def seconds(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    return {
        "url": public_url(endpoint.url),
        "name": text(endpoint.name),
        "description": text(endpoint.description),
        "events": list(endpoint.events),
        PATTERNS: "",
        "batch_size": text(endpoint.batch_size),
        "timeout": seconds(endpoint.timeout),
        "max_retries": "" if endpoint.max_attempts is None else str(endpoint.max_attempts - 1),
        "format": endpoint.format,
        "signature": endpoint.signing.scheme,
        "success": endpoint.success,
        "order": text(endpoint.order),
        "retry": "" if endpoint.retry is None else endpoint.retry.spec(),
        "max_age": seconds(endpoint.max_age),
        "disable_after": text(endpoint.disable_after),
        "concurrency": text(endpoint.concurrency),
        "rate_limit": "" if endpoint.rate_limit is None else endpoint.rate_limit.spec(),
        "signature_header": text(endpoint.signing.header),
        "signature_prefix": endpoint.signing.prefix,
        "headers": "\n".join(f"{name}: {value}" for name, value in endpoint.headers),
        "allow_private": "" if endpoint.allow_private is None else str(endpoint.allow_private).lower(),
        "ca_bundle": text(endpoint.ca_bundle),
    }


def placeholders(defaults: DeliverySettings) -> dict[str, str]:
    """What an input left empty means: the global setting, hinted in it."""
    hints = {
        "batch_size": str(defaults.batch_size),
        "timeout": f"{defaults.timeout:g}",
        "max_retries": str(defaults.max_attempts - 1),
        "order": defaults.order,
        "retry": defaults.retry.spec(),
        "max_age": "no limit" if defaults.max_age is None else f"{defaults.max_age:g}",
        "disable_after": str(defaults.disable_after),
        "concurrency": str(defaults.concurrency),
        "rate_limit": "none" if defaults.rate_limit is None else defaults.rate_limit.spec(),
        "allow_private": "yes" if defaults.reach.allow_private else "no",
    }
    return {name: f"global: {hint}" for name, hint in hints.items()}


def fields(form: FormData, editing: Endpoint | None = None) -> dict[str, Any]:
    """The API's fields from a posted form: for a new webhook, inputs left empty are left out
    (the default); for an edit, an empty one returns its setting to the default, as null does."""
    posted: dict[str, Any] = {}
    for name, value in raw(form).items():
        if name in TEXT_INPUTS and value.strip():
            posted[name] = value.strip() if name != "description" else value
        elif name in TEXT_INPUTS and editing is not None:
            posted[name] = None
    events = [*raw(form)["events"], *(item for item in _SEPARATORS.split(raw(form)[PATTERNS]) if item)]
    if events or editing is not None:
        posted["events"] = events or None
    if posted.get("headers") is not None:
        pairs = (parse_header(line) for line in posted["headers"].splitlines() if line.strip())
        posted["headers"] = dict(pairs)
    if editing is not None and posted.get("url") == public_url(editing.url):
        del posted["url"]  # unchanged: the form shows it without a login, which must not be lost
    model = WebhookChange if editing is not None else WebhookCreate
    try:
        return model.model_validate(posted).model_dump(exclude_unset=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DispatcherError(f"{where}: {first['msg']}" if where else first["msg"]) from None
