"""What every backend makes of the rows its statements return, and of an outcome it writes: the
Python side of status, due endpoints, dead letters, durations and attempt rows, written once.

Rows come as each driver gives them: a time as the SQLite store's text or a PostgreSQL datetime,
a switch as 0/1 or a bool."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..delivery_rules import in_flight_limit, rate_limited_until
from ..figures import DurationHistogram
from ..models import (
    AttemptRecord,
    DeadLetter,
    DeliverySettings,
    EndpointStatus,
    Event,
    EventDelivery,
    EventView,
    Outcome,
    SentRequest,
)
from ..sending.reach import public_url
from .rows import (
    HEADERS_CAP,
    as_time,
    attempt_from_row,
    event_from_row,
    headers_from_json,
    headers_json,
    lenient_rate_limit,
    time_or_none,
)
from .types import Due


def endpoint_status(row: Mapping[str, Any], now: datetime) -> EndpointStatus:
    """An endpoint's row from the status query (its columns and counts) as its EndpointStatus."""
    oldest = row["oldest_pending_at"]
    due_at = time_or_none(row["open_batch_due_at"]) or (now if row["unbatched"] else None)
    return EndpointStatus(
        endpoint=row["id"],
        name=row["name"],
        url=public_url(row["url"]),
        enabled=bool(row["enabled"]),
        pending=row["unbatched"] + row["open_batches"] - row["in_flight"],
        in_flight=row["in_flight"],
        delivered=row["delivered"],
        dead=row["dead"],
        consecutive_failures=row["consecutive_failures"],
        last_success_at=time_or_none(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=time_or_none(row["last_error_at"]),
        oldest_pending_age_s=(round((now - as_time(oldest)).total_seconds(), 3) if oldest else None),
        next_attempt_at=due_at if row["enabled"] else None,
    )


def due_endpoints(rows: Iterable[Mapping[str, Any]], now: datetime, defaults: DeliverySettings) -> list[Due]:
    """The enabled endpoints' rows from the due query as Due, soonest first: those with work and a
    free place in flight, from when their first waiting batch is due (else now), and not before their
    rate limit lets a request start."""
    due = []
    for row in rows:
        if row["waiting_due_at"] is None and not row["unbatched"]:
            continue
        free = in_flight_limit(row["consecutive_failures"], row["concurrency"] or defaults.concurrency) - row["leased"]
        if free <= 0:
            continue
        due_at = time_or_none(row["waiting_due_at"]) or now
        limited_until = rate_limited_until(
            lenient_rate_limit(row["rate_limit"]) or defaults.rate_limit, time_or_none(row["last_start_at"])
        )
        due.append(Due(row["id"], max(due_at, limited_until or due_at), free))
    return sorted(due, key=lambda item: (item.due_at, item.endpoint_id))


def attempt_record(row: dict[str, Any], events: Iterable[Event]) -> AttemptRecord:
    """An attempt's whole row, with its batch's event_ids and its endpoint's endpoint_format and
    endpoint_scheme, as an AttemptRecord of the batch's ``events`` still stored."""
    request = None
    if row["request_line"] is not None:
        request = SentRequest(row["request_line"], headers_from_json(row["request_headers"]) or (), row["body_sha256"])
    return AttemptRecord(
        attempt=attempt_from_row(row),
        ok=bool(row["ok"]),
        body_format=row["body_format"],
        signature_scheme=row["signature_scheme"],
        request=request,
        response_headers=headers_from_json(row["response_headers"]),
        response_headers_cut=row["response_headers_cut"] or 0,
        events=tuple(events),
        endpoint_format=row["endpoint_format"],
        endpoint_signature_scheme=row["endpoint_scheme"],
    )


def event_view(
    row: tuple[int, str, str, str | datetime],
    places: Iterable[Sequence[Any]],
    batch_attempts: Callable[[str], Iterable[dict[str, Any]]],
) -> EventView:
    """An event's (id, type, payload, created_at) row and its (endpoint_id, state, batch_id) places
    as an EventView; ``batch_attempts`` gives a batch's attempt rows, oldest first."""
    deliveries = tuple(
        EventDelivery(
            endpoint_id,
            state,
            batch_id,
            () if batch_id is None else tuple(attempt_from_row(item) for item in batch_attempts(batch_id)),
        )
        for endpoint_id, state, batch_id in places
    )
    return EventView(event_from_row(row), deliveries)


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """An (endpoint_id, event_id, type, attempts, last_error, finished_at) row as a DeadLetter."""
    endpoint, event_id, type_, attempts, last_error, died_at = row
    return DeadLetter(endpoint, event_id, type_, attempts, last_error, as_time(died_at))


def duration_histogram(bounds_s: Sequence[float], row: Sequence[Any]) -> DurationHistogram:
    """A row of the count at or under each bound, the count of all and their sum in ms, as a histogram."""
    return DurationHistogram(
        buckets=tuple(zip(bounds_s, row[: len(bounds_s)], strict=True)),
        count=row[len(bounds_s)],
        sum_seconds=int(row[len(bounds_s) + 1]) / 1000,  # PostgreSQL's sum() of bigint is numeric
    )


def _as_is(moment: datetime) -> datetime:
    return moment


def attempt_values(
    endpoint_id: int, batch_id: str, outcome: Outcome, test: bool, stored_time: Callable[[datetime], Any] = _as_is
) -> tuple[Any, ...]:
    """An attempt's column values, in the order endpoint_id, batch_id, started_at, duration_ms, ok,
    status_code, error, response_excerpt, test, body_format, signature_scheme, request_line,
    request_headers, body_sha256, response_headers, response_headers_cut; ``stored_time`` gives
    the start time as the backend stores it (a driver that takes datetimes: as it is)."""
    request = outcome.request
    response_headers, cut = headers_json(outcome.response_headers, HEADERS_CAP) if outcome.status_code else (None, None)
    return (
        endpoint_id,
        batch_id,
        stored_time(outcome.started_at),
        outcome.duration_ms,
        outcome.ok,
        outcome.status_code,
        outcome.error,
        outcome.response_excerpt,
        test,
        outcome.body_format,
        outcome.signature_scheme,
        request and request.line,
        request and headers_json(request.headers)[0],
        request and request.body_sha256,
        response_headers,
        cut,
    )
