"""Time as the dispatcher sees it: an injectable clock and one text format.

Every due time is computed here in Python, never with SQLite's ``'now'``, so
tests can drive a whole run with :class:`ManualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

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
    """The one text form of a time: the stored one (the schema's strftime('%Y-%m-%dT%H:%M:%fZ')), and the
    one people and programs read in the CLI's output, the API's JSON and the admin pages."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def from_text(text: str) -> datetime:
    """A time in ISO 8601 as an aware datetime in UTC; one without a zone is taken to be in UTC, as stored times are."""
    moment = datetime.fromisoformat(text)  # reads a trailing Z since Python 3.11
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    # Stored times end in Z, which reads as UTC itself: those (read per event) need no conversion.
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def to_millis(moment: datetime) -> datetime:
    """``moment`` cut to the milliseconds the store keeps, so it compares as its stored form will."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_window(since: datetime | None, until: datetime | None) -> None:
    """Refuse a window of times that nothing can fall in: a swapped pair is a mistake, not a question."""
    if since is not None and until is not None and since >= until:
        raise DispatcherError(f"invalid time window: since ({to_text(since)}) must be before until ({to_text(until)})")


class _AsText:
    """Pydantic's hook (it looks for the method; nothing here imports pydantic): a time in the HTTP
    API's JSON is written as :func:`to_text` writes it, as the CLI's JSON and the admin pages show it."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema  # only the web layer builds schemas, and it has pydantic

        schema = handler(source)
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(to_text, when_used="json")
        return schema


# A time in the dispatcher's data: an aware datetime in UTC, written out as to_text writes it.
Time = Annotated[datetime, _AsText()]
