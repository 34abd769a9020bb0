"""The store on PostgreSQL: the statement groups, each a mixin over one connection, as one class."""

from __future__ import annotations

import psycopg

from ..derived import Derived
from ..errors import raising_store_errors
from .access import Access
from .connection import Connection
from .delivering import Delivering
from .events import Events
from .inspecting import Inspecting
from .measuring import Measuring
from .producing import Producing
from .recovering import Recovering
from .webhooks import Webhooks

# What the schema raises for a row it refuses: a check (payload size, JSON, type), a value the
# column cannot hold (invalid JSON text, a NUL character), a missing value, a broken key.
_REFUSALS = (psycopg.errors.IntegrityError, psycopg.errors.DataError, UnicodeEncodeError)


@raising_store_errors(refusals=_REFUSALS, failures=(psycopg.Error,))
class PostgresStore(Producing, Delivering, Inspecting, Recovering, Access, Events, Measuring, Webhooks, Derived):
    @classmethod
    def open(cls, url: str, schema: str) -> PostgresStore:
        """Connect to the server at ``url`` and work in ``schema``, creating or upgrading it."""
        store = cls(Connection.connected(url, schema), schema, url)
        try:
            store.apply_schema()
        except BaseException:
            store.close()
            raise
        return store
