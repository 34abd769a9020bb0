"""Durations as users type them: ``500ms``, ``5s``, ``5m``, ``2h``, ``7d``, or bare seconds.

Kept to the millisecond, so every duration prints back exactly as it is stored; ages and waits
shown to people are rounded instead (:func:`format_rough`).
"""

from __future__ import annotations

import math
import re

from .errors import DispatcherError

# In milliseconds, so that dividing a whole number once gives the nearest float ("700ms" == 0.7).
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# A century: every duration is added to or taken from a time, and datetime ends at year 9999.
MAX_DURATION = 36_500 * 86_400.0


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises DispatcherError for anything else."""
    match = _PATTERN.match(text)
    if not match:
        raise DispatcherError(f"invalid duration {text!r}: use a number with ms, s, m, h or d (e.g. 500ms, 5s, 2h)")
    millis = float(match.group(1)) * _UNITS_MS[match.group(2) or "s"]
    if not (math.isfinite(millis) and millis <= MAX_DURATION * 1000):
        raise DispatcherError(f"invalid duration {text!r}: too large (at most 36500d)")
    return round(millis) / 1000


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, so ``parse_duration(format_duration(x)) == x``."""
    millis = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


_ROUGH_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_rough(seconds: float) -> str:
    """The two largest units, rounded down, for people: ``8m38s``, ``2h5m``, ``3d4h``, ``0s``."""
    whole = max(0, math.floor(seconds))
    for (unit, size), (smaller, smaller_size) in zip(_ROUGH_UNITS, _ROUGH_UNITS[1:]):
        if whole >= size:
            rest = whole % size // smaller_size
            return f"{whole // size}{unit}" + (f"{rest}{smaller}" if rest else "")
    return f"{whole}s"
