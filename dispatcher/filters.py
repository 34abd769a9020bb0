"""The filters of the attempt log and the dead-letter list, read from what a person or a program
typed (a query string, a form): the API and the admin pages read them here, the same way.

An empty value is no filter (an HTML form sends its empty fields); a bad one is a DispatcherError
naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import DispatcherError
from .models import Selection
from .recovery import parse_time

Given = int | str | None


@dataclass(frozen=True)
class AttemptFilter:
    """Which attempts to list; None matches any."""

    endpoint_id: int | None = None
    event_id: int | None = None
    status: int | str | None = None  # an HTTP status code, "ok" or "failed"
    since: datetime | None = None  # the request's start, inclusive
    until: datetime | None = None  # exclusive


def attempt_filter(
    webhook_id: Given, event_id: Given, status: Given, since: Given, until: Given, now: datetime
) -> AttemptFilter:
    return AttemptFilter(
        endpoint_id=identifier("webhook_id", webhook_id),
        event_id=identifier("event_id", event_id),
        status=status_code(status),
        since=moment("since", since, now),
        until=moment("until", until, now),
    )


def dead_selection(webhook_id: Given, event_type: Given, since: Given, until: Given, now: datetime) -> Selection:
    """Which dead deliveries to list or replay: since and until bound the events' queue time."""
    return Selection(
        endpoint_id=identifier("webhook_id", webhook_id),
        dead_only=True,
        since=moment("since", since, now),
        until=moment("until", until, now),
        event_type=str(event_type or "").strip() or None,
    )


def identifier(name: str, given: Given) -> int | None:
    if given is None or given == "":
        return None
    text = str(given).strip()
    if text.isdigit() and 0 < int(text) < 2**63:
        return int(text)
    raise DispatcherError(f"{name}: {given!r} is not an id (a whole number from 1)")


def status_code(given: Given) -> int | str | None:
    if given is None or given == "":
        return None
    text = str(given).strip()
    if text in ("ok", "failed"):
        return text
    if text.isdigit() and 100 <= int(text) <= 599:
        return int(text)
    raise DispatcherError(f"status: {given!r} is not an HTTP status code, ok or failed")


def moment(name: str, given: Given, now: datetime) -> datetime | None:
    if given is None or given == "":
        return None
    try:
        return parse_time(str(given), now)
    except DispatcherError as error:
        raise DispatcherError(f"{name}: {error}") from None
