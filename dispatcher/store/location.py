"""Where the store is: what --db and DISPATCHER_DB take, a SQLite file's path or a database URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import DispatcherError

Backend = Literal["sqlite", "postgresql"]
DEFAULT_PG_SCHEMA = "dispatcher"
# The URL option naming the PostgreSQL schema; taken out before the URL reaches the driver.
PG_SCHEMA_OPTION = "schema"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PG_SCHEMES = ("postgresql", "postgres")
# Lowercase, so producers can name it unquoted; short enough that '<schema>_events' is a channel name
# (identifiers stop at 63 bytes); and pg_ is PostgreSQL's own.
_SCHEMA_NAME = re.compile(r"(?!pg_)[a-z_][a-z0-9_]{0,55}")


@dataclass(frozen=True)
class Location:
    backend: Backend
    target: str  # the SQLite file's path, or the URL the PostgreSQL driver connects to
    pg_schema: str = DEFAULT_PG_SCHEMA

    @property
    def path(self) -> Path:
        """The SQLite file (only for a SQLite location)."""
        assert self.backend == "sqlite", self
        return Path(self.target)

    def __str__(self) -> str:
        """For people, and as --db takes it: the file, or the URL with its schema (unless the default)
        and without its password."""
        if self.backend == "sqlite":
            return self.target
        parts = urlsplit(self.target)
        url = self.target
        if parts.password is not None:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            # Built by hand, as urlunsplit drops an empty host's //.
            url = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        if self.pg_schema == DEFAULT_PG_SCHEMA:
            return url
        return f"{url}{'&' if parts.query else '?'}{PG_SCHEMA_OPTION}={self.pg_schema}"


def parse_location(text: str | Path | Location, pg_schema: str | None = None) -> Location:
    """``text`` as a store location: ``postgresql://...`` (or ``postgres://``), ``sqlite:///path``,
    or a plain path. The PostgreSQL schema comes from ``pg_schema``, else the URL's ``schema=`` option,
    else ``dispatcher``. Raises a one-line DispatcherError for anything else."""
    if isinstance(text, Location):
        return text
    text = str(text)
    if not text.strip():
        raise DispatcherError("the database is empty: give a SQLite file's path or a postgresql:// URL")
    scheme = _SCHEME.match(text)
    if scheme is None:
        if text == ":memory:" or text.startswith("file:"):
            raise DispatcherError(f"{text!r} is not a file's path: give the SQLite file's path")
        return Location("sqlite", text)
    name = scheme.group(1).lower()
    if name == "sqlite":
        path = text[len(scheme.group(0)) :]
        if not path.startswith("/") or path == "/":
            raise DispatcherError(
                f"{text!r}: write a SQLite URL as sqlite:///relative/path or sqlite:////absolute/path"
            )
        return parse_location(path[1:], pg_schema)
    if name in _PG_SCHEMES:
        return _postgresql(text, pg_schema)
    raise DispatcherError(
        f"unknown kind of database {name!r}: give a SQLite file's path, sqlite:///path or postgresql://..."
    )


def _postgresql(url: str, pg_schema: str | None) -> Location:
    parts = urlsplit(url)
    options = parse_qsl(parts.query, keep_blank_values=True)
    from_url = [value for key, value in options if key == PG_SCHEMA_OPTION]
    schema = check_schema_name(pg_schema or (from_url[-1] if from_url else DEFAULT_PG_SCHEMA))
    if from_url:  # the URL without our option; built by hand, as urlunsplit drops an empty host's //
        rest = urlencode([(key, value) for key, value in options if key != PG_SCHEMA_OPTION])
        url = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    return Location("postgresql", url, schema)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.fullmatch(schema):
        raise DispatcherError(
            f"invalid PostgreSQL schema name {schema!r}: use lowercase letters, digits and _ "
            "(at most 56, not starting with a digit or pg_)"
        )
    return schema
