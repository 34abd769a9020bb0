"""When a failed batch is tried again. Pure: the caller passes the time and the dice.

A policy is written as users type it:

- ``schedule:5s,5m,30m`` the delay after the 1st, 2nd, ... failure; the last one repeats;
- ``exponential:BASE[:FACTOR[:CAP]]`` BASE, then each delay FACTOR (default 2) times
  the one before, never above CAP (default 30 days);
- ``fixed:INTERVAL`` the same delay after every failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .durations import format_duration, parse_duration
from .errors import DispatcherError

# Jitter only ever adds, so a retry is never earlier than scheduled.
JITTER = 0.10
# No single delay is longer than this, whatever a policy multiplies up to.
MAX_DELAY = 30 * 86400.0
# A receiver's Retry-After is honoured up to this far ahead.
MAX_RETRY_AFTER = 86400.0

_KINDS = ("schedule", "exponential", "fixed")


@dataclass(frozen=True)
class RetryPolicy:
    """The delay before each retry. ``delays`` for a schedule; base, factor and cap otherwise."""

    kind: str
    delays: tuple[float, ...] = ()
    base: float = 0.0
    factor: float = 2.0
    cap: float = MAX_DELAY

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed request (1 for the first)."""
        if self.kind == "schedule":
            return self.delays[min(failures, len(self.delays)) - 1]
        if self.kind == "fixed":
            return self.base
        # Capped in log space, so a large failure count cannot overflow.
        exponent = failures - 1
        if self.factor > 1 and exponent * math.log(self.factor) > math.log(self.cap / self.base):
            return self.cap
        return min(self.cap, self.base * self.factor**exponent)

    def spec(self) -> str:
        """The policy spelled as users type it: ``parse_policy(p.spec()) == p``."""
        if self.kind == "schedule":
            return "schedule:" + ",".join(format_duration(delay) for delay in self.delays)
        if self.kind == "fixed":
            return f"fixed:{format_duration(self.base)}"
        parts = [format_duration(self.base), f"{self.factor:g}"]
        if self.cap != MAX_DELAY:
            parts.append(format_duration(self.cap))
        return "exponential:" + ":".join(parts)


def parse_policy(spec: str) -> RetryPolicy:
    """``schedule:...``, ``exponential:...`` or ``fixed:...``; raises DispatcherError otherwise."""
    kind, colon, rest = spec.strip().partition(":")
    if kind not in _KINDS or not colon:
        raise DispatcherError(
            f"invalid retry policy {spec!r}: use schedule:5s,5m,..., exponential:BASE[:FACTOR[:CAP]] or fixed:INTERVAL"
        )
    if kind == "schedule":
        return RetryPolicy("schedule", delays=tuple(_delay(spec, part) for part in rest.split(",")))
    if kind == "fixed":
        return RetryPolicy("fixed", base=_delay(spec, rest))
    parts = rest.split(":")
    if len(parts) > 3:
        raise DispatcherError(f"invalid retry policy {spec!r}: use exponential:BASE[:FACTOR[:CAP]]")
    base = _delay(spec, parts[0])
    factor = _factor(spec, parts[1]) if len(parts) > 1 else 2.0
    cap = _delay(spec, parts[2]) if len(parts) > 2 else MAX_DELAY
    if cap < base:
        raise DispatcherError(f"invalid retry policy {spec!r}: the cap is below the base delay")
    return RetryPolicy("exponential", base=base, factor=factor, cap=cap)


def _delay(spec: str, text: str) -> float:
    seconds = parse_duration(text)  # DispatcherError names the bad part
    if not 0 < seconds <= MAX_DELAY:
        raise DispatcherError(f"invalid retry policy {spec!r}: each delay must be above 0 and at most 30d")
    return seconds


def _factor(spec: str, text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and 1 <= factor <= 100):
        raise DispatcherError(f"invalid retry policy {spec!r}: the factor must be a number from 1 to 100")
    return factor


DEFAULT_POLICY = parse_policy("schedule:5s,5m,30m,2h,5h,10h,10h")  # Svix's schedule
DEFAULT_DELAYS = DEFAULT_POLICY.delays


def next_attempt_at(
    attempts_made: int,
    max_attempts: int,
    failed_at: datetime,
    random: Callable[[], float],
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    first_attempt_at: datetime | None = None,
    max_age: float | None = None,
    retry_after: datetime | None = None,
) -> datetime | None:
    """When to try again after ``attempts_made`` failed requests, or None when the batch is dead.

    ``max_attempts`` counts the first try; ``random`` returns a float in [0, 1).
    A receiver's ``retry_after`` moves the retry later, never earlier, up to a
    day ahead. With ``max_age``, a retry that would fall more than that many
    seconds after ``first_attempt_at`` is not scheduled.
    """
    if attempts_made >= max_attempts:
        return None
    due = failed_at + timedelta(seconds=policy.delay(attempts_made) * (1 + JITTER * random()))
    if retry_after is not None:
        due = max(due, min(retry_after, failed_at + timedelta(seconds=MAX_RETRY_AFTER)))
    if max_age is not None and due > (first_attempt_at or failed_at) + timedelta(seconds=max_age):
        return None
    return due
