"""The server's stores: one SQLite connection per thread of the request pool."""

from __future__ import annotations

import threading
from pathlib import Path

from ..store import Store


class Stores:
    """Hands each thread its own store (a SQLite connection must stay in its thread); the threads
    of the server share one lock for writes, as the workers of a `process` run do."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writers = threading.Lock()
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.path, self.writers, create=False)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()
