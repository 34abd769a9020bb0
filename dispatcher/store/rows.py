"""Rows to dataclasses and back, for every backend: an endpoint's setting columns as
dispatcher.endpoint_settings declares them, headers as JSON text, and times.

A backend hands these functions its rows as dicts of column to value; a time may come as the
SQLite store's text or as the datetime a PostgreSQL driver gives."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from ..clock import from_text, to_text
from ..endpoint_settings import SETTINGS, by_name, endpoint_fields
from ..endpoint_settings.setting import COMPACT, RATE_LIMIT, pairs_from_json
from ..errors import DispatcherError
from ..models import Attempt, Endpoint, Event, Headers, RetiredSecret
from ..rate_limits import RateLimit

# The most JSON text of response headers an attempt keeps; a receiver sending more is cut short.
HEADERS_CAP = 16 * 1024


def headers_json(headers: Headers, cap: int | None = None) -> tuple[str, int]:
    """``headers`` as compact JSON of [name, value] pairs, and how many pairs were dropped to fit ``cap``."""
    text = COMPACT.encode(headers)
    if cap is None or len(text) <= cap:
        return text, 0
    size, kept = len("[]") - len(","), 0
    for pair in headers:
        size += len(",") + len(COMPACT.encode(pair))
        if size > cap:
            break
        kept += 1
    return COMPACT.encode(headers[:kept]), len(headers) - kept


def headers_from_json(text: str | None) -> Headers | None:
    return None if text is None else pairs_from_json(text)


def endpoint_row(fields: dict[str, Any]) -> dict[str, Any]:
    """Settings by name (and the retired secrets, which rotation sets) as the columns that hold them."""
    row = {}
    for name, value in fields.items():
        if name == "retired_secrets":
            row[name] = json.dumps([{"secret": old.secret, "until": to_text(old.until)} for old in value])
        else:
            setting = by_name(name)
            row[setting.column] = setting.to_row(value)
    return row


# The delivery loop reads an endpoint for every batch it claims: what to do with each column, decided once.
_READ = tuple((setting.name, setting.column, setting.stored and setting.stored.from_row) for setting in SETTINGS)


def endpoint_from_row(row: dict[str, Any]) -> Endpoint:
    values = {name: read(row[column]) if read else row[column] for name, column, read in _READ}
    return Endpoint(
        **endpoint_fields(values),
        id=row["id"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        disabled_at=time_or_none(row["disabled_at"]),
        retired_secrets=_retired(row["retired_secrets"]),
        consecutive_failures=row["consecutive_failures"],
        last_success_at=time_or_none(row["last_success_at"]),
        last_error=row["last_error"],
        created_at=as_time(row["created_at"]),
    )


# An endpoint is read for every batch the delivery loop claims: its retired secrets are parsed once per text.
@functools.lru_cache(maxsize=256)
def _retired(text: str) -> tuple[RetiredSecret, ...]:
    return tuple(RetiredSecret(item["secret"], from_text(item["until"])) for item in json.loads(text))


def lenient_rate_limit(spec: str | None) -> RateLimit | None:
    """An endpoint's own rate limit column; one that cannot be read (written by hand) is None
    here, for the claim to report, which reads the whole row."""
    try:
        limit: RateLimit | None = RATE_LIMIT.from_row(spec)
        return limit
    except DispatcherError:
        return None


def event_from_row(row: tuple[int, str, str, str | datetime]) -> Event:
    """An (id, type, payload, created_at) row as an Event."""
    event_id, type_, payload, created_at = row
    return Event(event_id, type_, payload, as_time(created_at))


def attempt_from_row(row: dict[str, Any]) -> Attempt:
    """An attempt's row, with its batch's event_ids, as an Attempt."""
    return Attempt(
        id=row["id"],
        endpoint=row["endpoint_id"],
        batch_id=row["batch_id"],
        event_ids=tuple(json.loads(row["event_ids"] or "[]")),
        started_at=as_time(row["started_at"]),
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        error=row["error"],
        response_excerpt=row["response_excerpt"],
        test=bool(row["test"]),
        ok=bool(row["ok"]),
    )


def as_time(value: str | datetime) -> datetime:
    """A stored time as an aware UTC datetime, from the SQLite store's text or a driver's datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return from_text(value)


def time_or_none(value: str | datetime | None) -> datetime | None:
    return None if value is None else as_time(value)


def time_text(moment: datetime | None) -> str | None:
    return None if moment is None else to_text(moment)
