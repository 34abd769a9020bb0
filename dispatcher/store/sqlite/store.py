"""The store on SQLite: the statement groups, each a mixin over one connection, as one class."""

from __future__ import annotations

import threading
from pathlib import Path

from .access import Access
from .connection import connect, open_lock_file, require_database
from .delivering import Delivering
from .events import Events
from .inspecting import Inspecting
from .measuring import Measuring
from .producing import Producing
from .recovering import Recovering
from .webhooks import Webhooks


class Store(Producing, Delivering, Inspecting, Recovering, Access, Events, Measuring, Webhooks):
    @classmethod
    def open(cls, path: str | Path, writers: threading.Lock | None = None, create: bool = True) -> Store:
        """Connect to the SQLite file at ``path``, creating or upgrading its schema.

        With ``create`` false a file that does not exist is refused, not made: a mistyped path
        must not pass for an empty queue. Threads of one process that write to the same file
        share ``writers``.
        """
        if not create:
            require_database(path)
        store = cls(connect(path), writers, open_lock_file(path))
        store.apply_schema()
        return store
