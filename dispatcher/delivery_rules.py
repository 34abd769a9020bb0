"""The delivery rules every store applies the same way: how long a lease lasts, how many batches an
endpoint may have in flight, when its rate limit lets it start, and which failure disables it.

Kept out of the store so that each backend calls them rather than writing them again in its SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .models import Outcome, Recorded
from .rate_limits import RateLimit

# A lease outlives the request it covers by this much, so a live worker never
# loses its batch mid-request, and a killed one's batch is resent soon after.
LEASE_MARGIN_S = 30.0


def lease_seconds(timeout: float) -> float:
    """How long a claim holds its batch: the longest one request can take, plus a margin.

    Connecting may use the whole timeout and waiting for the response to begin
    another (requests' connect and read timeouts); the body is cut off at the deadline.
    """
    return 2 * timeout + LEASE_MARGIN_S


def in_flight_limit(consecutive_failures: int, concurrency: int) -> int:
    """Batches an endpoint may have in flight: its concurrency, or one while its last request
    failed, so that only the retry probes a receiver that may still be down."""
    return 1 if consecutive_failures else concurrency


def rate_limited_until(limit: RateLimit | None, last_start_at: datetime | None) -> datetime | None:
    """When an endpoint's rate limit lets its next request start; None if it has no limit or has
    started none yet. From the last start and the limit in force, so a changed limit counts at once."""
    if limit is None or last_start_at is None:
        return None
    return last_start_at + timedelta(seconds=limit.interval)


def disabling_reason(outcome: Outcome, failures: int, disable_after: int) -> str | None:
    """Why a failed request disables its endpoint, or None if it does not: a 410 Gone, or the
    ``disable_after``-th consecutive failure (0: never). ``failures`` counts this one."""
    if outcome.status_code == 410:
        return "HTTP 410 Gone: the receiver says this endpoint no longer exists"
    if disable_after and failures >= disable_after:
        return f"{failures} consecutive failed requests, the last: {failure_text(outcome)}"
    return None


def after_failure(outcome: Outcome, next_due: datetime | None, failures_before: int, disable_after: int) -> Recorded:
    """What a failed request does to its batch and endpoint: the batch waits for its retry at
    ``next_due``, or is dead without one; the endpoint counts one more consecutive failure, and
    may be disabled by it (see :func:`disabling_reason`)."""
    failures = failures_before + 1
    state = "pending" if next_due is not None else "dead"
    return Recorded(state, failures, disabling_reason(outcome, failures, disable_after))


def failure_text(outcome: Outcome) -> str:
    """What a failed request's batch and endpoint keep as their last error."""
    return outcome.error or f"HTTP {outcome.status_code}"
