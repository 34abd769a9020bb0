"""The server's stores: connections lent to one request at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..store import Location, Store, open_store


class Stores:
    """Lends each request a store of its own for as long as it runs, and takes it back after.

    Not one per thread: FastAPI runs a request's dependencies and its route in whichever threads of
    its pool are free, so a store kept per thread would be used by two requests at once (and
    one's transaction would meet the other's). There are never more of them than requests at once.
    """

    def __init__(self, location: str | Path | Location) -> None:
        self.location = location
        self._idle: list[Store] = []
        self._opened: list[Store] = []
        self._lock = threading.Lock()

    @contextmanager
    def lend(self) -> Iterator[Store]:
        with self._lock:
            store = self._idle.pop() if self._idle else None
        if store is None:
            store = open_store(self.location, create=False)
            with self._lock:
                self._opened.append(store)
        try:
            yield store
        finally:
            with self._lock:
                self._idle.append(store)

    def close(self) -> None:
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()
            self._idle.clear()
