"""The producer side: put events in the queue from Python.

Any other language does the same with one SQL statement; see the README.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .clock import SystemClock
from .errors import DispatcherError
from .payloads import check_type, payload_text, stored_text
from .store import Location, Store, open_store
from .store.errors import PayloadRefused, StoreError

if TYPE_CHECKING:
    from .payloads import Payload


@dataclass(frozen=True)
class Queued:
    id: int
    endpoints: int  # subscribed endpoints, enabled or not, that the event was queued for


class Queue:
    """A handle a producer keeps open; cheap to call once per event."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, event_type: str, payload: Payload) -> int:
        """Queue one event; returns its id."""
        row = (check_type(event_type), stored_text(payload))
        try:
            return self.store.insert_event(*row)
        except PayloadRefused as error:
            raise _refusal(payload, error) from None

    def put(self, event_type: str, payload: Payload) -> Queued:
        """Queue one event; returns its id and how many endpoints will get it (0: kept, never sent).
        A statement more than :meth:`enqueue`, which a loop of them is better off without."""
        row = (check_type(event_type), stored_text(payload))
        try:
            return Queued(*self.store.insert_event_counted(*row))
        except PayloadRefused as error:
            raise _refusal(payload, error) from None

    def enqueue_many(self, event_type: str, payloads: Iterable[Payload]) -> int:
        """Queue many events of one type in one transaction; all or none. Returns the count."""
        check_type(event_type)
        queued_at = SystemClock().now()
        last: tuple[int, Payload] = (0, "")  # the payload inserted last, to name it if it is refused

        def rows() -> Iterator[tuple[str, str, datetime]]:
            nonlocal last
            for last in enumerate(payloads, 1):  # noqa: B007 - `last` is read after a refusal
                yield event_type, stored_text(last[1]), queued_at

        try:
            return self.store.insert_events(rows())
        except PayloadRefused as error:
            raise _refusal(last[1], error, f"payload {last[0]}: ") from None
        except StoreError:
            raise
        except DispatcherError as refusal:  # refused before it reached the database
            raise DispatcherError(f"payload {last[0]}: {refusal}") from None

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _refusal(payload: Payload, error: Exception, where: str = "") -> DispatcherError:
    """Why the database refused ``payload``, as precisely as the payload rule can say."""
    try:
        payload_text(payload)
    except DispatcherError as reason:
        return DispatcherError(f"{where}{reason}")
    return DispatcherError(f"{where}{error}")


def open(path: str | Path | Location) -> Queue:  # noqa: A001 - the public name is dispatcher.open
    """Open the queue at ``path`` (a SQLite file's path, or a database URL as ``--db`` takes),
    creating its tables if needed.

    (The command line is stricter: only the commands that add something create a missing file.)"""
    return Queue(open_store(path))


def enqueue(path: str | Path | Location, event_type: str, payload: Payload) -> int:
    """Queue one event without keeping a handle."""
    with open(path) as queue:
        return queue.enqueue(event_type, payload)
