"""Every SQL statement the dispatcher runs, behind one interface: :class:`Store`.

:func:`open_store` opens one from what ``--db`` takes: a SQLite file's path (or ``sqlite:///path``),
the default, or a ``postgresql://`` URL. Nothing outside this package writes SQL, imports a
database driver, catches a driver's error or sees a connection: callers get domain types and
:class:`StoreError`. The statements are grouped by who needs them: producers and admins, the
delivery loop, people looking, and recovery (dead letters, replay, pruning).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # as typing.TYPE_CHECKING; typing is not imported on `dispatcher enqueue`'s short way
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .errors import PayloadRefused, StoreError
    from .location import Location, parse_location
    from .protocol import Store

# Loaded on first use (PEP 562): `dispatcher enqueue`'s short way needs none of it.
_LAZY = {
    "Store": ".protocol",
    "StoreError": ".errors",
    "PayloadRefused": ".errors",
    "Location": ".location",
    "parse_location": ".location",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


def open_store(location: str | Path | Location, create: bool = True) -> Store:
    """The store at ``location``, its schema created or upgraded.

    With ``create`` false a SQLite file that does not exist is refused, not made: a mistyped path
    must not pass for an empty queue.
    """
    from .location import parse_location

    where = parse_location(location)
    if where.backend == "postgresql":
        from .postgres.store import PostgresStore

        return PostgresStore.open(where.target, where.pg_schema)
    from .sqlite.store import SQLiteStore

    return SQLiteStore.open(where.path, create=create)


def discard_new(location: str | Path | Location) -> None:
    """Remove the database at ``location`` that a failed command has just created, so that a
    mistyped --db leaves nothing behind. A server's database is never removed."""
    from .location import parse_location

    where = parse_location(location)
    if where.backend == "sqlite":
        from .sqlite.connection import remove_database

        remove_database(where.path)


__all__ = ["Location", "PayloadRefused", "Store", "StoreError", "discard_new", "open_store", "parse_location"]
