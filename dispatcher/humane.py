"""Values as people read them in the CLI's tables and listings; JSON keeps the machine values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .config import KEYS, defaults_from, effective, in_force, value_of
from .durations import format_rough
from .endpoint_settings import FOLLOWS_GLOBAL
from .endpoint_view import as_json, inherited
from .models import Endpoint, EndpointStatus

STATUS_COLUMNS = (
    "endpoint",
    "name",
    "enabled",
    "pending",
    "in_flight",
    "delivered",
    "dead",
    "consecutive_failures",
    "oldest_pending",
    "next_attempt",
    "last_error",
)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def due_in(at: datetime, now: datetime) -> str:
    """``now`` once ``at`` is reached, else how long until it: ``in 4m12s``."""
    wait = (at - now).total_seconds()
    return f"in {format_rough(wait)}" if wait >= 1 else "now"


def status_rows(statuses: Sequence[EndpointStatus], now: datetime) -> list[dict[str, Any]]:
    """`status` as a table: one row per endpoint, keyed by :data:`STATUS_COLUMNS`."""
    return [
        {
            "endpoint": row.endpoint,
            "name": row.name,
            "enabled": yes_no(row.enabled),
            "pending": row.pending,
            "in_flight": row.in_flight,
            "delivered": row.delivered,
            "dead": row.dead,
            "consecutive_failures": row.consecutive_failures,
            "oldest_pending": None if row.oldest_pending_age_s is None else format_rough(row.oldest_pending_age_s),
            "next_attempt": None if row.next_attempt_at is None else due_in(row.next_attempt_at, now),
            # An error from before the last success is history, not the endpoint's state.
            "last_error": row.last_error if row.consecutive_failures else None,
        }
        for row in statuses
    ]


def endpoint_lines(endpoint: Endpoint, config: Mapping[str, str], show_secret: bool) -> list[str]:
    """`endpoint show`: ``name: value`` lines. A setting the endpoint follows from the global config is
    shown as `config` shows it (as it was typed), marked ``(global)``; its own, spelled the same way."""
    defaults = defaults_from(config)
    data = as_json(endpoint, defaults, show_secret)
    own = effective(endpoint, defaults)
    following = inherited(endpoint, defaults)
    global_values = in_force(config)
    lines = []
    for name, value in data.items():
        if name in following:
            shown = f"{global_values[name]} (global)"
        elif name in FOLLOWS_GLOBAL:
            shown = KEYS[name].format(value_of(own, name))
        elif isinstance(value, bool):
            shown = yes_no(value)
        elif isinstance(value, list):
            shown = ", ".join(map(_item, value))
        elif isinstance(value, dict):
            shown = ", ".join(f"{key}: {item}" for key, item in value.items())
        else:
            # A description may have lines of its own: they are indented under its name.
            shown = "" if value is None else str(value).replace("\n", "\n  ")
        lines.append(f"{name}: {shown}")
    return lines


def _item(item: str | dict[str, str]) -> str:
    """A list item on one line: a pattern, a header, or a retired secret's fields."""
    return item if isinstance(item, str) else " ".join(f"{key}={value}" for key, value in item.items())
