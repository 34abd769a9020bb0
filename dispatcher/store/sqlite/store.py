"""The store on SQLite: the statement groups, each a mixin over one connection, as one class."""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import PayloadRefused, StoreError
from .access import Access
from .connection import connect, open_lock_file, require_database
from .delivering import Delivering
from .events import Events
from .inspecting import Inspecting
from .measuring import Measuring
from .producing import Producing
from .recovering import Recovering
from .webhooks import Webhooks

_Method = TypeVar("_Method", bound=Callable[..., Any])
_Store = TypeVar("_Store")

# The methods that insert events: what their statements refuse is the payload or the type.
_INSERTING = ("insert_event", "insert_event_counted", "insert_events", "stage_events", "insert_events_once")


def _translated(method: _Method, inserts_events: bool) -> _Method:
    """``method`` raising the store's errors instead of sqlite3's (and the encoding error a lone
    surrogate gives on its way in), so no caller needs to know which database is behind the store."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (sqlite3.IntegrityError, UnicodeEncodeError) as error:
            if inserts_events:
                raise PayloadRefused(str(error)) from error
            raise StoreError(f"database error: {error}") from error
        except sqlite3.Error as error:
            raise StoreError(f"database error: {error}") from error

    return call  # type: ignore[return-value]


def _raising_store_errors(cls: type[_Store]) -> type[_Store]:
    for name in dir(cls):
        method = inspect.getattr_static(cls, name)
        if not name.startswith("_") and isinstance(method, types.FunctionType):
            setattr(cls, name, _translated(method, name in _INSERTING))
    return cls


@_raising_store_errors
class SQLiteStore(Producing, Delivering, Inspecting, Recovering, Access, Events, Measuring, Webhooks):
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
