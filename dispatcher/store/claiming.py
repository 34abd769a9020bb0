"""Claiming an endpoint's next batch under a lease of its own, for every backend: the decisions are
made here, once; each backend gives the statements (:class:`ClaimStatements`) in its own SQL.

Up to the endpoint's concurrency of its batches are in flight at once, each leased
by whoever sends it. A batch waiting for its retry holds back every new batch: the
endpoint backs off as a whole, and its retry goes first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..config import effective
from ..delivery_rules import in_flight_limit, lease_seconds, rate_limited_until
from ..models import Batch, DeliverySettings, Event
from .rows import as_time, endpoint_from_row, time_or_none
from .types import Claim


class ClaimStatements(Protocol):
    """A backend's statements for a claim, all in the caller's transaction."""

    def endpoint_row(self, endpoint_id: int) -> dict[str, Any] | None:
        """The endpoint's row; None if it is gone, or (PostgreSQL) another host is claiming it now."""
        ...

    def open_batches(self, endpoint_id: int, now: datetime) -> Sequence[tuple[Any, ...]]:
        """The endpoint's pending batches as (id, event_ids, attempts, due_at, first_attempt_at,
        leased at ``now``) rows, by due time then id."""
        ...

    def events_in_order(self, ids_json: str) -> list[Event]: ...

    def cut(self, batch: Batch, kept: list[int], cut: list[int]) -> None:
        """Keep only the events ``kept`` in the batch; the ``cut`` ones go back to pending."""
        ...

    def lease(self, batch_id: str, lease_id: str, lease_expires_at: datetime) -> None: ...

    def new_batch(
        self, endpoint_id: int, settings: DeliverySettings, now: datetime, lease_id: str, lease_expires_at: datetime
    ) -> Batch | None:
        """Move the next ``batch_size`` pending deliveries, in the endpoint's order, into a new batch
        leased to ``lease_id``; None if none is left to send."""
        ...

    def started(self, endpoint_id: int, now: datetime) -> None:
        """Note that the endpoint started a request at ``now`` (its rate limit counts from it)."""
        ...


def claim(
    statements: ClaimStatements,
    endpoint_id: int,
    lease_id: str,
    now: datetime,
    defaults: DeliverySettings,
    row: dict[str, Any] | None = None,
) -> Claim | None:
    """Lease the endpoint's next batch to ``lease_id``: its first waiting batch, else a new one.
    None if it may start none now: its batches in flight are as many as it may have, it waits (for
    a retry, or its rate limit), nothing is queued for it (or it is disabled or gone), or the
    statements cannot have its row now.

    ``row`` is the endpoint's row when the caller has just read (and locked) it in this transaction.
    """
    if row is None:
        row = statements.endpoint_row(endpoint_id)
        if row is None:
            return None
    if not row["enabled"]:
        return None
    endpoint = endpoint_from_row(row)
    settings = effective(endpoint, defaults)
    until = rate_limited_until(settings.rate_limit, time_or_none(row["last_start_at"]))
    if until is not None and until > now:
        return None
    open_batches = statements.open_batches(endpoint_id, now)
    leased = sum(live for *_, live in open_batches)
    if leased >= in_flight_limit(endpoint.consecutive_failures, settings.concurrency):
        return None
    waiting = [batch for batch in open_batches if not batch[-1]]
    lease_expires_at = now + timedelta(seconds=lease_seconds(settings.timeout))
    batch: Batch | None
    if waiting:
        batch_id, event_ids, attempts, due_at, first_attempt_at, _ = waiting[0]
        if as_time(due_at) > now:
            return None  # backing off: nothing new starts before the retry
        events = tuple(statements.events_in_order(event_ids))
        batch = _fitted(
            statements,
            Batch(batch_id, endpoint_id, events, attempts, time_or_none(first_attempt_at)),
            settings.batch_size,
        )
        statements.lease(batch_id, lease_id, lease_expires_at)
    else:
        batch = statements.new_batch(endpoint_id, settings, now, lease_id, lease_expires_at)
        if batch is None:
            return None
    if settings.rate_limit is not None:
        statements.started(endpoint_id, now)
    return Claim(endpoint, settings, batch)


def _fitted(statements: ClaimStatements, batch: Batch, size: int) -> Batch:
    """The open batch cut to the endpoint's batch size, which may have shrunk since it was made
    (a smaller --batch-size, or the raw format's one event per request). The events cut off go
    back to pending, ahead of the rest in the endpoint's order, as they were."""
    if len(batch.events) <= size:
        return batch
    kept = batch.events[:size]
    statements.cut(batch, [event.id for event in kept], [event.id for event in batch.events[size:]])
    return dataclasses.replace(batch, events=kept)
