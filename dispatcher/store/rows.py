"""Rows to dataclasses and back; the only place that knows column names differ from field names."""

from __future__ import annotations

import functools
import json
import sqlite3
from typing import Any

from ..models import Endpoint, Event, Headers, RetiredSecret, Signing
from ..retry import parse_policy

# Columns that add, update and rotate-secret may set, and how each maps to the table.
ENDPOINT_COLUMNS = {
    "name": "name",
    "url": "url",
    "secret": "secret",
    "events": "events",
    "order": "sort_order",
    "batch_size": "batch_size",
    "timeout": "timeout_ms",
    "max_attempts": "max_attempts",
    "retry": "retry",
    "max_age": "max_age_ms",
    "disable_after": "disable_after",
    "notify_command": "notify_command",
    "format": "body_format",
    "signature": "signature_scheme",
    "signature_header": "signature_header",
    "signature_prefix": "signature_prefix",
    "headers": "headers",
    "success": "success",
    "allow_private": "allow_private",
    "ca_bundle": "ca_bundle",
    "retired_secrets": "retired_secrets",
}


# The most JSON text of response headers an attempt keeps; a receiver sending more is cut short.
HEADERS_CAP = 16 * 1024


def headers_json(headers: Headers, cap: int | None = None) -> tuple[str, int]:
    """``headers`` as compact JSON of [name, value] pairs, and how many pairs were dropped to fit ``cap``."""
    text = _COMPACT.encode(headers)
    if cap is None or len(text) <= cap:
        return text, 0
    size, kept = len("[]") - len(","), 0
    for pair in headers:
        size += len(",") + len(_COMPACT.encode(pair))
        if size > cap:
            break
        kept += 1
    return _COMPACT.encode(headers[:kept]), len(headers) - kept


# One encoder for every attempt: json.dumps makes a new one per call when given separators.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def headers_from_json(text: str | None) -> Headers | None:
    return None if text is None else _decoded_headers(text)


def _decoded_headers(text: str) -> Headers:
    return tuple((name, value) for name, value in json.loads(text))


def dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def endpoint_row(fields: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for name, value in fields.items():
        column = ENDPOINT_COLUMNS[name]
        if name == "events":
            value = json.dumps(value)
        elif name == "headers":
            value = headers_json(value)[0]
        elif name in ("timeout", "max_age") and value is not None:
            value = round(value * 1000)
        elif name == "retry" and value is not None:
            value = value.spec()
        elif name == "retired_secrets":
            value = json.dumps([{"secret": old.secret, "until": old.until} for old in value])
        row[column] = value
    return row


def endpoint_from_row(row: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        secret=row["secret"],
        events=_patterns(row["events"]),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        disabled_at=row["disabled_at"],
        order=row["sort_order"],
        batch_size=row["batch_size"],
        timeout=row["timeout_ms"] / 1000 if row["timeout_ms"] is not None else None,
        max_attempts=row["max_attempts"],
        retry=_policy(row["retry"]) if row["retry"] else None,
        max_age=row["max_age_ms"] / 1000 if row["max_age_ms"] is not None else None,
        disable_after=row["disable_after"],
        notify_command=row["notify_command"],
        format=row["body_format"],
        signing=Signing(row["signature_scheme"], row["signature_header"], row["signature_prefix"]),
        headers=_headers(row["headers"]),
        success=row["success"],
        allow_private=None if row["allow_private"] is None else bool(row["allow_private"]),
        ca_bundle=row["ca_bundle"],
        retired_secrets=_retired(row["retired_secrets"]),
        consecutive_failures=row["consecutive_failures"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


# An endpoint is read for every batch the process loop claims, and its JSON
# columns rarely change: each is parsed once per distinct text.


@functools.lru_cache(maxsize=256)
def _patterns(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


@functools.lru_cache(maxsize=256)
def _retired(text: str) -> tuple[RetiredSecret, ...]:
    return tuple(RetiredSecret(item["secret"], item["until"]) for item in json.loads(text))


_headers = functools.lru_cache(maxsize=256)(_decoded_headers)
_policy = functools.lru_cache(maxsize=256)(parse_policy)


def events_in_order(conn: sqlite3.Connection, ids_json: str) -> list[Event]:
    """The events whose ids are in the JSON array ``ids_json``, in that array's order."""
    rows = conn.execute(
        "SELECT e.id, e.type, e.payload, e.created_at "
        "FROM json_each(?) AS wanted JOIN events AS e ON e.id = wanted.value "
        "ORDER BY wanted.key",
        (ids_json,),
    )
    return [Event(*row) for row in rows]
