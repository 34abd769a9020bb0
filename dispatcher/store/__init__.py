"""Every SQL statement the dispatcher runs, behind one class: :class:`Store`.

A second backend (PostgreSQL, for deployments that outgrow one server) is meant
to be a second implementation of :class:`Store`, not a rewrite of its callers,
so nothing outside this package writes SQL. The statements are grouped by who
needs them: producers and admins, the process loop, people looking, and
recovery (dead letters, replay, pruning).

Concurrency rules, relied on by the process loop:

* every connection comes from :func:`connect` (WAL, busy timeout, foreign keys);
* read-then-write runs inside ``Store.write()``, a ``BEGIN IMMEDIATE``
  transaction, so two runs never decide on the same stale read;
* a worker only changes an endpoint's batches while it holds the endpoint's
  lease, and every outcome is written only if the lease is still its own.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .claiming import LEASE_MARGIN_S, lease_seconds
from .connection import BUSY_TIMEOUT_S, SCHEMA_VERSION, connect, require_database, schema_sql
from .delivering import Delivering
from .inspecting import Inspecting
from .producing import Producing
from .recovering import Recovering


class Store(Producing, Delivering, Inspecting, Recovering):
    @classmethod
    def open(cls, path: str | Path, writers: threading.Lock | None = None, create: bool = True) -> Store:
        """Connect to the SQLite file at ``path``, creating or upgrading its schema.

        With ``create`` false a file that does not exist is refused, not made: a mistyped path
        must not pass for an empty queue. Threads of one process that write to the same file
        share ``writers``.
        """
        if not create:
            require_database(path)
        store = cls(connect(path), writers)
        store.apply_schema()
        return store


__all__ = [
    "BUSY_TIMEOUT_S",
    "LEASE_MARGIN_S",
    "SCHEMA_VERSION",
    "Store",
    "connect",
    "lease_seconds",
    "require_database",
    "schema_sql",
]
