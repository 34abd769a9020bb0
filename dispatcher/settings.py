"""Global defaults kept in the database, and the rules every setting obeys.

The same validators serve ``dispatcher config set`` and the endpoint options,
so a value that one accepts the other accepts too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .durations import format_duration, parse_duration
from .errors import DispatcherError
from .models import Endpoint, Settings

BUILT_IN = Settings(order="asc", batch_size=10, timeout=15.0, max_attempts=8)

MAX_BATCH_SIZE = 1000
MAX_TIMEOUT = 3600.0
MAX_ATTEMPTS = 1000


def check_order(value: str) -> str:
    if value not in ("asc", "desc"):
        raise DispatcherError(f"invalid order {value!r}: use asc or desc")
    return value


def check_batch_size(value: int) -> int:
    return _within("batch size", value, MAX_BATCH_SIZE)


def check_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and 0.001 <= seconds <= MAX_TIMEOUT):
        raise DispatcherError(f"invalid timeout {seconds:g}s: use 1ms to {format_duration(MAX_TIMEOUT)}")
    return seconds


def check_max_attempts(value: int) -> int:
    return _within("max attempts", value, MAX_ATTEMPTS)


def _within(what: str, value: int, highest: int) -> int:
    if not 1 <= value <= highest:
        raise DispatcherError(f"invalid {what} {value}: use 1 to {highest}")
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DispatcherError(f"invalid number {text!r}") from None


@dataclass(frozen=True)
class _Key:
    parse: Callable[[str], Any]  # text -> checked value
    format: Callable[[Any], str]  # value -> text, as stored and shown


KEYS: dict[str, _Key] = {
    "order": _Key(check_order, str),
    "batch_size": _Key(lambda text: check_batch_size(_parse_int(text)), str),
    "timeout": _Key(lambda text: check_timeout(parse_duration(text)), format_duration),
    "max_attempts": _Key(lambda text: check_max_attempts(_parse_int(text)), str),
}


def key(name: str) -> _Key:
    try:
        return KEYS[name]
    except KeyError:
        raise DispatcherError(f"unknown setting {name!r}: use one of {', '.join(sorted(KEYS))}") from None


def defaults_from(stored: dict[str, str]) -> Settings:
    """The global settings: stored config over the built-in defaults."""
    values = {name: key(name).parse(text) for name, text in stored.items() if name in KEYS}
    return Settings(
        order=values.get("order", BUILT_IN.order),
        batch_size=values.get("batch_size", BUILT_IN.batch_size),
        timeout=values.get("timeout", BUILT_IN.timeout),
        max_attempts=values.get("max_attempts", BUILT_IN.max_attempts),
    )


def effective(endpoint: Endpoint, defaults: Settings) -> Settings:
    """An endpoint's own settings over the global ones."""
    return Settings(
        order=endpoint.order or defaults.order,
        # The raw format's body is one event's payload.
        batch_size=1 if endpoint.format == "raw" else endpoint.batch_size or defaults.batch_size,
        timeout=endpoint.timeout or defaults.timeout,
        max_attempts=endpoint.max_attempts or defaults.max_attempts,
    )


def normalized(name: str, text: str) -> str:
    """``text`` checked as setting ``name`` and spelled as stored: ``120s`` becomes ``2m``."""
    setting = key(name)
    return str(setting.format(setting.parse(text)))


def in_force(stored: dict[str, str]) -> dict[str, str]:
    """Every global setting's value in force, spelled as users type it."""
    defaults = defaults_from(stored)
    return {name: str(setting.format(getattr(defaults, name))) for name, setting in KEYS.items()}
