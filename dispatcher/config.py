"""Global settings kept in the database, and the rules every setting obeys.

The same validators serve ``dispatcher config set`` and the endpoint options,
so a value that one accepts the other accepts too. Delivery settings can be
overridden per endpoint (endpoint, then config, then built-in); the others
(retention, notification) are global only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .durations import format_duration, parse_duration
from .errors import DispatcherError
from .models import DeliverySettings, Endpoint
from .rate_limits import RateLimit, parse_rate_limit
from .retry import DEFAULT_POLICY, RetryPolicy, parse_policy
from .sending.reach import Reach, format_networks, parse_networks

if TYPE_CHECKING:  # the store reads settings; a run-time import would be circular
    from .store import Store

MAX_BATCH_SIZE = 1000
MAX_TIMEOUT = 3600.0
MAX_ATTEMPTS = 1000
MAX_DISABLE_AFTER = 100_000
MAX_AGE = 365 * 86400.0
# Batches of one endpoint in flight at once: more than a run's --workers is of no use.
MAX_CONCURRENCY = 256

NONE = "none"  # how a setting that can be off is switched off


def check_order(value: str) -> str:
    if value not in ("asc", "desc"):
        raise DispatcherError(f"invalid order {value!r}: use asc or desc")
    return value


def check_batch_size(value: int) -> int:
    return _within("batch size", value, 1, MAX_BATCH_SIZE)


def check_concurrency(value: int) -> int:
    return _within("concurrency", value, 1, MAX_CONCURRENCY)


def check_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and 0.001 <= seconds <= MAX_TIMEOUT):
        raise DispatcherError(f"invalid timeout {seconds:g}s: use 1ms to {format_duration(MAX_TIMEOUT)}")
    return seconds


def check_max_attempts(value: int) -> int:
    return _within("max attempts", value, 1, MAX_ATTEMPTS)


def check_max_age(seconds: float) -> float:
    if not (math.isfinite(seconds) and 1 <= seconds <= MAX_AGE):
        raise DispatcherError(f"invalid max age {seconds:g}s: use 1s to {format_duration(MAX_AGE)}")
    return seconds


def check_disable_after(value: int) -> int:
    """Consecutive failed requests before the endpoint is disabled; 0 never disables it."""
    return _within("disable-after count", value, 0, MAX_DISABLE_AFTER)


def check_notify_command(command: str) -> str:
    if not command.strip():
        raise DispatcherError("invalid notify command: must not be empty")
    return command


def _within(what: str, value: int, lowest: int, highest: int) -> int:
    if not lowest <= value <= highest:
        raise DispatcherError(f"invalid {what} {value}: use {lowest} to {highest}")
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DispatcherError(f"invalid number {text!r}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "yes", "no", "1", "0"):
        raise DispatcherError(f"invalid switch {text!r}: use true or false")
    return lowered in ("true", "yes", "1")


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``none`` (or nothing) switches the setting off; anything else is parsed."""
    return lambda text: None if text.strip() in ("", NONE) else parse(text)


def _optional_text(format: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: NONE if value is None else format(value)


@dataclass(frozen=True)
class _Key:
    parse: Callable[[str], Any]  # text -> checked value
    format: Callable[[Any], str]  # value -> text, as `endpoint show` spells an endpoint's own value
    default: str  # the built-in value, as text
    secret: bool = False  # shown only as "(set)"


_TEXT = _Key(str.strip, str, "")

KEYS: dict[str, _Key] = {
    # Delivery: an endpoint's own value wins over these.
    "order": _Key(check_order, str, "asc"),
    "batch_size": _Key(lambda text: check_batch_size(_parse_int(text)), str, "10"),
    "timeout": _Key(lambda text: check_timeout(parse_duration(text)), format_duration, "15s"),
    "max_attempts": _Key(lambda text: check_max_attempts(_parse_int(text)), str, "8"),
    "retry": _Key(parse_policy, RetryPolicy.spec, DEFAULT_POLICY.spec()),
    "max_age": _Key(_optional(lambda text: check_max_age(parse_duration(text))), _optional_text(format_duration), NONE),
    "disable_after": _Key(lambda text: check_disable_after(_parse_int(text)), str, "20"),
    "notify_command": _Key(_optional(check_notify_command), _optional_text(str), NONE),
    "concurrency": _Key(lambda text: check_concurrency(_parse_int(text)), str, "1"),
    "rate_limit": _Key(_optional(parse_rate_limit), _optional_text(RateLimit.spec), NONE),
    "allow_private": _Key(_parse_bool, lambda value: "true" if value else "false", "false"),
    # Global only.
    "allow_networks": _Key(
        lambda text: () if text.strip() in ("", NONE) else parse_networks(text),
        lambda networks: format_networks(networks) or NONE,
        NONE,
    ),
    "retention": _Key(_optional(parse_duration), _optional_text(format_duration), "7d"),
    "notify_failing_after": _Key(lambda text: check_disable_after(_parse_int(text)), str, "0"),
    "smtp_host": _TEXT,
    "smtp_port": _Key(lambda text: _within("port", _parse_int(text), 1, 65535), str, "25"),
    "smtp_from": _TEXT,
    "smtp_to": _TEXT,
    "smtp_starttls": _Key(_parse_bool, lambda value: "true" if value else "false", "false"),
    "smtp_user": _TEXT,
    "smtp_password": _Key(str, str, "", secret=True),
}


def key(name: str) -> _Key:
    try:
        return KEYS[name]
    except KeyError:
        raise DispatcherError(f"unknown setting {name!r}: use one of {', '.join(sorted(KEYS))}") from None


def config_value(stored: Mapping[str, str], name: str) -> Any:
    """The value in force of global setting ``name``: stored, else built-in."""
    setting = key(name)
    return setting.parse(stored.get(name, setting.default))


def defaults_from(stored: Mapping[str, str]) -> DeliverySettings:
    """The global delivery settings: stored config over the built-in defaults."""
    return DeliverySettings(
        order=config_value(stored, "order"),
        batch_size=config_value(stored, "batch_size"),
        timeout=config_value(stored, "timeout"),
        max_attempts=config_value(stored, "max_attempts"),
        retry=config_value(stored, "retry"),
        max_age=config_value(stored, "max_age"),
        disable_after=config_value(stored, "disable_after"),
        notify_command=config_value(stored, "notify_command"),
        concurrency=config_value(stored, "concurrency"),
        rate_limit=config_value(stored, "rate_limit"),
        reach=Reach(config_value(stored, "allow_private"), config_value(stored, "allow_networks")),
    )


BUILT_IN = defaults_from({})


def effective(endpoint: Endpoint, defaults: DeliverySettings) -> DeliverySettings:
    """An endpoint's own settings over the global ones."""
    return DeliverySettings(
        order=endpoint.order or defaults.order,
        # The raw format's body is one event's payload.
        batch_size=1 if endpoint.format == "raw" else endpoint.batch_size or defaults.batch_size,
        timeout=endpoint.timeout or defaults.timeout,
        max_attempts=endpoint.max_attempts or defaults.max_attempts,
        retry=endpoint.retry or defaults.retry,
        max_age=endpoint.max_age or defaults.max_age,
        disable_after=defaults.disable_after if endpoint.disable_after is None else endpoint.disable_after,
        notify_command=endpoint.notify_command or defaults.notify_command,
        concurrency=endpoint.concurrency or defaults.concurrency,
        rate_limit=endpoint.rate_limit or defaults.rate_limit,
        reach=defaults.reach
        if endpoint.allow_private is None
        else Reach(endpoint.allow_private, defaults.reach.allow_networks),
    )


def value_of(settings: DeliverySettings, name: str) -> Any:
    """The value of delivery setting ``name`` (a config key) in ``settings``."""
    return settings.reach.allow_private if name == "allow_private" else getattr(settings, name)


def checked(name: str, text: str) -> str:
    """``text`` checked as setting ``name``; it is kept as typed (``120s`` stays ``120s``), which means
    the same to every reader, as they all parse it. Nothing typed for a setting that can be off is
    kept as ``none``, so listings say it is off rather than show a blank."""
    value = key(name).parse(text)
    return NONE if not text.strip() and value in (None, ()) else text


# The global settings that decide where requests may go: setting one makes every batch waiting
# for its retry due at once, as the endpoint's own (endpoint_settings.RETRY_AT_ONCE) do for its batch.
RETRY_AT_ONCE = ("allow_private", "allow_networks")


def set_value(store: Store, name: str, text: str, now: datetime) -> None:
    """Store global setting ``name``, checked and kept as typed (see :func:`checked`)."""
    store.set_config(name, checked(name, text), due_at=now if name in RETRY_AT_ONCE else None)


def in_force(stored: Mapping[str, str]) -> dict[str, str]:
    """Every global setting's value in force, as it was set (else built in); secrets only as "(set)"."""
    return {
        name: ("(set)" if stored.get(name) else "") if setting.secret else stored.get(name, setting.default)
        for name, setting in KEYS.items()
    }
