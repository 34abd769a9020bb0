"""Connections to PostgreSQL, and the dispatcher's schema in it: created, upgraded, or refused."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow, tuple_row

from ...errors import DispatcherError
from ..location import DEFAULT_PG_SCHEMA, check_schema_name
from ..tables import DATA_TABLES

SCHEMA_VERSION = 1
DEFAULT_SCHEMA = DEFAULT_PG_SCHEMA
# The tables schema.sql creates: a schema without dispatcher_schema that holds any of them is someone else's.
OUR_TABLES = (*DATA_TABLES, "dispatcher_prune")
CONNECT_TIMEOUT_S = 10


def channel(schema: str) -> str:
    """The channel the fan-out notifies (once per transaction that queued anything): LISTEN on it."""
    return f"{check_schema_name(schema)}_events"


def schema_sql() -> str:
    return _package_text("schema.sql")


def migration_sql(version: int) -> str:
    """The step that brings a schema from ``version - 1`` to ``version`` (none yet: version 1 is the first)."""
    return _package_text("migrations", f"{version}.sql")


def _package_text(*parts: str) -> str:
    return resources.files(__package__).joinpath(*parts).read_text(encoding="utf-8")


def connect(url: str, schema: str = DEFAULT_SCHEMA) -> psycopg.Connection[TupleRow]:
    """A connection to the server at ``url`` whose search_path is ``schema``.

    Raises DispatcherError, with one line saying why, for a URL that cannot be read or a server
    that cannot be reached; the message never shows the URL's password.
    """
    check_schema_name(schema)
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as error:
        raise DispatcherError(f"invalid PostgreSQL URL: {_one_line(error)}") from None
    timeout = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        conn = psycopg.connect(make_conninfo(url, **timeout))
    except psycopg.Error as error:
        raise DispatcherError(f"cannot connect to PostgreSQL at {_where(params)}: {_one_line(error)}", 1) from None
    try:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.commit()
    except psycopg.Error as error:
        conn.close()
        raise DispatcherError(f"cannot use PostgreSQL at {_where(params)}: {_one_line(error)}", 1) from None
    return conn


def apply_schema(conn: psycopg.Connection[Any], schema: str = DEFAULT_SCHEMA) -> None:
    """Create ``schema`` if it is missing and create or upgrade the dispatcher's tables in it.

    Safe when several hosts start at once: each waits for a transaction-level advisory lock keyed
    on the schema's name, then looks again. Refuses a schema already holding tables with our names
    that the dispatcher did not create. Commits, unless ``conn`` is inside a transaction already.
    """
    check_schema_name(schema)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"dispatcher schema {schema}",))
            _require_utf8(conn)
            version = _schema_version(conn, schema)
            if version is not None and version >= SCHEMA_VERSION:
                return
            if version is None:
                _refuse_foreign_tables(conn, schema)
                script = schema_sql()
            else:
                script = "".join(migration_sql(step) for step in range(version + 1, SCHEMA_VERSION + 1))
            _run_in(conn, schema, script)
    except psycopg.Error as error:
        raise DispatcherError(f"cannot set up the PostgreSQL schema {schema}: {_one_line(error)}", 1) from None


def _run_in(conn: psycopg.Connection[Any], schema: str, script: str) -> None:
    """Run ``script`` with search_path set to ``schema`` (which its functions keep), then put it back."""
    (search_path,) = _one_row(conn, "SELECT current_setting('search_path')")
    # Created here, rather than by the script: a schema that exists needs no CREATE privilege on the database.
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    # pg_temp last: no temporary table or function can stand in for one of ours.
    conn.execute(sql.SQL("SET LOCAL search_path TO {}, pg_temp").format(sql.Identifier(schema)))
    conn.execute(script.encode())  # bytes: the script is run as it is, its % signs are no placeholders
    conn.execute("SELECT set_config('search_path', %s, true)", (search_path,))


def _schema_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """The version ``schema`` holds; None if the dispatcher has never set it up (or it does not exist)."""
    (table,) = _one_row(conn, "SELECT to_regclass(format('%%I.dispatcher_schema', %s::text))::text", (schema,))
    if table is None:
        return None
    (version,) = _one_row(conn, sql.SQL("SELECT max(version) FROM {}.dispatcher_schema").format(sql.Identifier(schema)))
    return int(version or 0)


def _refuse_foreign_tables(conn: psycopg.Connection[Any], schema: str) -> None:
    taken = [
        name
        for (name,) in conn.cursor(row_factory=tuple_row).execute(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY c.relname",
            (schema, list(OUR_TABLES)),
        )
    ]
    if taken:
        raise DispatcherError(
            f"the PostgreSQL schema {schema} already has tables named {', '.join(taken)} that the dispatcher did "
            "not create; give the dispatcher a schema of its own"
        )


def _require_utf8(conn: psycopg.Connection[Any]) -> None:
    (encoding,) = _one_row(conn, "SELECT current_setting('server_encoding')")
    if encoding != "UTF8":
        raise DispatcherError(
            f"the PostgreSQL database's encoding is {encoding}; the dispatcher keeps payloads byte for byte "
            "and needs a UTF8 database"
        )


def _one_row(conn: psycopg.Connection[Any], query: str | sql.Composed, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row: tuple[Any, ...] | None = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    assert row is not None  # the queries above always answer one row
    return row


def _where(params: Mapping[str, object]) -> str:
    """Host, port and database of ``params``, for messages: never the password."""
    host = params.get("host") or params.get("hostaddr") or "the default host"
    port = f":{params['port']}" if params.get("port") else ""
    database = f"/{params['dbname']}" if params.get("dbname") else ""
    return f"{host}{port}{database}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
