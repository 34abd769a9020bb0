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
* a worker only sends a batch while it holds the batch's lease, and every
  outcome is written only if the lease is still its own.
"""

from __future__ import annotations

import importlib

from .sqlite.connection import BUSY_TIMEOUT_S, SCHEMA_VERSION, connect, require_database, schema_sql

TYPE_CHECKING = False  # as typing.TYPE_CHECKING; typing is not imported on `dispatcher enqueue`'s short way
if TYPE_CHECKING:
    from typing import Any

    from .sqlite.claiming import LEASE_MARGIN_S, lease_seconds
    from .sqlite.store import Store

# Loaded on first use (PEP 562): `dispatcher enqueue` needs only the connection and one statement.
_LAZY = {"Store": ".sqlite.store", "LEASE_MARGIN_S": ".sqlite.claiming", "lease_seconds": ".sqlite.claiming"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


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
