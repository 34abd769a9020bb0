"""The producer side: put events in the queue from Python.

Any other language does the same with one SQL statement; see the README.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from .errors import DispatcherError
from .payloads import Payload, check_type, payload_text
from .store import Store


class Queue:
    """A handle a producer keeps open; cheap to call once per event."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, event_type: str, payload: Payload) -> int:
        """Queue one event; returns its id."""
        row = (check_type(event_type), payload_text(payload))
        return _refused_by_database_as_error(lambda: self.store.insert_event(*row))

    def enqueue_many(self, event_type: str, payloads: Iterable[Payload]) -> int:
        """Queue many events of one type in one transaction; all or none. Returns the count."""
        check_type(event_type)

        def rows() -> Iterator[tuple[str, str]]:
            for payload in payloads:
                yield event_type, payload_text(payload)

        return _refused_by_database_as_error(lambda: self.store.insert_events(rows()))

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


def _refused_by_database_as_error(insert: Callable[[], int]) -> int:
    try:
        return int(insert())
    except sqlite3.IntegrityError as error:
        raise DispatcherError(f"event refused by the database: {error}") from None


def open(path: str | Path) -> Queue:  # noqa: A001 - the public name is dispatcher.open
    """Open (creating if needed) the queue in the SQLite file at ``path``."""
    return Queue(Store.open(path))


def enqueue(path: str | Path, event_type: str, payload: Payload) -> int:
    """Queue one event without keeping a handle."""
    with open(path) as queue:
        return queue.enqueue(event_type, payload)
