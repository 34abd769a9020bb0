"""Time as the dispatcher sees it: an injectable clock and one text format.

Every due time is computed here in Python, never with SQLite's ``'now'``, so
tests can drive a whole run with :class:`ManualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import DispatcherError


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        """Wait ``seconds``, or less once ``wake`` is set."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        if seconds <= 0:
            return
        if wake is None:
            time.sleep(seconds)
        else:
            wake.wait(seconds)


class ManualClock:
    """A clock that only moves when told to; ``sleep`` moves it at once."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(seconds, 0.0))


def to_text(moment: datetime) -> str:
    """The stored form, the same as the schema's strftime('%Y-%m-%dT%H:%M:%fZ')."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def check_window(since: str | None, until: str | None) -> None:
    """Refuse a window of stored times that nothing can fall in: a swapped pair is a mistake, not a question."""
    if since is not None and until is not None and since >= until:
        raise DispatcherError(f"invalid time window: since ({since}) must be before until ({until})")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
