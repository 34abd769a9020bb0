"""The store on SQLite: the statement groups, each a mixin over one connection, as one class."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from ..derived import Derived
from ..errors import raising_store_errors
from .access import Access
from .connection import connect, open_lock_file, require_database
from .delivering import Delivering
from .events import Events
from .inspecting import Inspecting
from .measuring import Measuring
from .producing import Producing
from .recovering import Recovering
from .webhooks import Webhooks


@raising_store_errors(refusals=(sqlite3.IntegrityError, UnicodeEncodeError), failures=(sqlite3.Error,))
class SQLiteStore(Producing, Delivering, Inspecting, Recovering, Access, Events, Measuring, Webhooks, Derived):
    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> SQLiteStore:
        """Connect to the SQLite file at ``path``, creating or upgrading its schema.

        With ``create`` false a file that does not exist is refused, not made: a mistyped path
        must not pass for an empty queue.
        """
        if not create:
            require_database(path)
        store = cls(connect(path), _writers_of(path), open_lock_file(path))
        store.apply_schema()
        return store


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writers_of(path: str | Path) -> threading.Lock:
    """The lock every store of this process on the file at ``path`` writes under (see Connection.write)."""
    key = os.path.abspath(path)
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())
