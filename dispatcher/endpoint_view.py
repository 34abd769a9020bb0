"""The endpoint as users see it: its JSON, the settings it inherits, and warnings about it."""

from __future__ import annotations

from typing import Any, Literal

from .clock import to_text
from .config import effective, value_of
from .endpoint_settings import FOLLOWS_GLOBAL, SETTINGS, Setting
from .models import DeliverySettings, Endpoint
from .sending.reach import RefusedDestination, UnresolvedHost
from .urls import destination

# disabled: it gets no requests until enabled again; failing: enabled, and its last request failed.
Health = Literal["enabled", "failing", "disabled"]


def health(enabled: bool, consecutive_failures: int) -> Health:
    """The one word the dashboard, the webhook pages and their lists show for an endpoint's state."""
    if not enabled:
        return "disabled"
    return "failing" if consecutive_failures else "enabled"


def reach_warning(endpoint: Endpoint, defaults: DeliverySettings) -> str | None:
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


def warnings(endpoint: Endpoint, defaults: DeliverySettings) -> list[str]:
    """What a person setting up ``endpoint`` should hear about, though it is no error."""
    found = [reach_warning(endpoint, defaults)]
    if endpoint.format == "raw" and endpoint.batch_size not in (None, 1):
        # Kept rather than refused: it applies again if the format changes back.
        size = endpoint.batch_size
        found.append(f"the raw format sends one event per request: batch size {size} applies only to other formats")
    return [warning for warning in found if warning]


def inherited(endpoint: Endpoint, defaults: DeliverySettings) -> tuple[str, ...]:
    """The settings in force for the endpoint that come from the global config: it has no value of
    its own, and nothing else decides (the raw format sends one event per request)."""
    in_force = effective(endpoint, defaults)
    return tuple(
        name
        for name in FOLLOWS_GLOBAL
        if getattr(endpoint, name) is None and value_of(in_force, name) == value_of(defaults, name)
    )


# Where the endpoint's state (enabled or why not) goes among its settings: after what it is for.
_STATE_AFTER = "events"


def as_json(endpoint: Endpoint, defaults: DeliverySettings, show_secret: bool = False) -> dict[str, Any]:
    """The endpoint as users see it: every setting in force, its state, and secrets only on request, last."""
    in_force = effective(endpoint, defaults)
    data: dict[str, Any] = {"id": endpoint.id}
    for setting in SETTINGS:
        if not setting.hidden:
            data[setting.name] = setting.json_value(_shown(setting, endpoint, in_force, show_secret))
        if setting.name == _STATE_AFTER:
            data.update(
                enabled=endpoint.enabled,
                disabled_reason=endpoint.disabled_reason,
                disabled_at=None if endpoint.disabled_at is None else to_text(endpoint.disabled_at),
            )
    retired = [{"secret": old.secret, "until": to_text(old.until)} for old in endpoint.retired_secrets]
    data["retired_secrets"] = retired if show_secret else [{"until": old["until"]} for old in retired]
    data["created_at"] = to_text(endpoint.created_at)
    if show_secret:
        data.update({s.name: s.json_value(s.value_in(endpoint)) for s in SETTINGS if s.hidden})
    return data


def _shown(setting: Setting, endpoint: Endpoint, in_force: DeliverySettings, show_secret: bool) -> Any:
    if setting.follows_global:
        return value_of(in_force, setting.name)
    own = setting.value_in(endpoint)
    if own is None and setting.in_force is not None:
        return setting.in_force(endpoint)
    return own if show_secret or setting.redact is None else setting.redact(own)
