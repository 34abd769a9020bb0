"""Figures counted from the database for people and monitors: the dashboard and /metrics.

Plain frozen dataclasses, filled by the store (:mod:`dispatcher.store.sqlite.measuring`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# An HTTP answer's class; "none" when no answer came (refused, timed out, connection failed).
StatusClass = Literal["1xx", "2xx", "3xx", "4xx", "5xx", "none"]
# How a delivery ended (a replayed one ends again, and counts again) and how a request went.
DeliveryOutcome = Literal["delivered", "dead"]
AttemptOutcome = Literal["ok", "failed"]


@dataclass(frozen=True)
class RecentFigures:
    """One endpoint's last hours: what the dashboard shows beside its status."""

    endpoint: int
    disabled_reason: str | None
    delivered: int  # events delivered since the window's start
    failed: int  # failed requests since the window's start (test sends not counted)


@dataclass(frozen=True)
class DeliveryCount:
    """Finished deliveries (one event to one endpoint) that the database still keeps."""

    outcome: DeliveryOutcome
    status_class: StatusClass  # of the batch's last request
    count: int


@dataclass(frozen=True)
class AttemptCount:
    """Requests made (test sends not counted) that the database still keeps."""

    outcome: AttemptOutcome
    status_class: StatusClass
    count: int


@dataclass(frozen=True)
class DurationHistogram:
    """Request durations as a cumulative histogram: ``buckets`` pairs an upper bound in seconds
    with how many requests took at most that long."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_seconds: float
