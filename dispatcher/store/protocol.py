"""The store's interface: every statement the dispatcher needs, in domain terms, whatever database
is behind it. :func:`dispatcher.store.open_store` gives one; callers know nothing else of it.

Promises every implementation keeps (the store's tests check them on each backend):

* read-then-write happens inside one method, in one transaction, so two runs or two admins
  never decide on the same stale read;
* a batch is leased to one sender at a time, and an outcome is written only while the lease is
  still that sender's;
* it raises :class:`~.errors.StoreError` (and :class:`~.errors.PayloadRefused` for an event the
  schema refuses), never its driver's errors;
* times go in and come out as aware UTC datetimes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ..access_models import ApiKey, IdempotencyKey, StoredAnswer, WebSession
from ..figures import AttemptCount, DeliveryCount, DurationHistogram, RecentFigures
from ..models import (
    Attempt,
    AttemptRecord,
    Batch,
    Claim,
    DeadLetter,
    DeliverySettings,
    Due,
    Endpoint,
    EndpointChange,
    EndpointStatus,
    EventView,
    Outcome,
    Pruned,
    Recorded,
    Selection,
    Staged,
)

# How many finished batches (or events, or test attempts) replay and prune handle in one
# transaction: each chunk is short, so producers and delivery runs never wait long for them.
CHUNK = 500


class Store(Protocol):
    # --- the store itself ---------------------------------------------------------

    def close(self) -> None: ...

    def answers(self) -> bool:
        """Whether the database can be read now (for a health check)."""
        ...

    def schema_version(self) -> int | None:
        """The schema version the database holds; None if the dispatcher never set it up."""
        ...

    def maintain(self) -> None:
        """Housekeeping after many rows went (pruning): whatever the database needs to reuse the space."""
        ...

    def wait_for_events(self, timeout: float, stop: threading.Event) -> bool:
        """Wait at most ``timeout`` seconds, or until ``stop`` is set, for a producer to queue events;
        True as soon as one has. A database that cannot tell (SQLite) waits the whole time and
        answers False: the caller's next look is the fallback."""
        ...

    def chore(self, name: str) -> AbstractContextManager[bool]:
        """Hold the chore ``name`` (pruning, say) for as long as the block runs: True if this store
        got it, False while another run, on any host, holds it (then leave the chore to that run)."""
        ...

    # --- config -------------------------------------------------------------------

    def config(self) -> dict[str, str]: ...

    def set_config(self, key: str, value: str, due_at: datetime | None = None) -> int:
        """Store a global setting; with ``due_at``, every batch waiting for a retry becomes due then.
        Returns how many did."""
        ...

    # --- producers ------------------------------------------------------------------

    def insert_event(self, type_: str, payload: str) -> int:
        """Queue one event for its subscribers; returns its id."""
        ...

    def insert_event_counted(self, type_: str, payload: str) -> tuple[int, int]:
        """Queue one event; returns its id and how many endpoints it was queued for."""
        ...

    def insert_events(self, rows: Iterable[tuple[str, str, datetime]]) -> int:
        """Queue many (type, payload, created_at) events in one transaction, all or none; returns the count."""
        ...

    def stage_events(self, rows: Iterable[tuple[str, str, datetime]]) -> Staged:
        """Write events that no endpoint gets until :meth:`queue_staged`, in one transaction."""
        ...

    def queue_staged(self, staged: Iterable[Staged]) -> None:
        """Give staged events to their subscribers, all in one transaction."""
        ...

    def drop_staged(self, staged: Iterable[Staged]) -> None: ...

    def insert_events_once(
        self,
        rows: Sequence[tuple[str, str]],
        created_at: datetime,
        answer: Callable[[list[int]], StoredAnswer],
        once: IdempotencyKey | None = None,
        kept_since: datetime | None = None,
    ) -> tuple[StoredAnswer, bool]:
        """Queue the events and keep ``answer(ids)`` under the idempotency key, in one transaction;
        a repeat gets the kept answer (and True)."""
        ...

    # --- endpoints ------------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int: ...

    def change_endpoint(self, endpoint_id: int, change: Callable[[Endpoint], EndpointChange]) -> tuple[Endpoint, int]:
        """Read the endpoint, write what ``change`` makes of it, in one transaction; returns the
        endpoint as written and how many waiting batches became due."""
        ...

    def endpoint(self, endpoint_id: int) -> Endpoint: ...

    def endpoints(self) -> list[Endpoint]: ...

    def endpoints_after(self, after: int | None, limit: int) -> list[Endpoint]: ...

    def require_endpoint(self, endpoint_id: int | None) -> None:
        """Raise NotFound for an id that names no endpoint (None names none and passes)."""
        ...

    def enable_endpoint(self, endpoint_id: int, now: datetime) -> None: ...

    def disable_endpoint(self, endpoint_id: int, reason: str, now: datetime) -> None: ...

    def delete_endpoint(self, endpoint_id: int) -> None: ...

    def event_types(self, recent: int = 10_000, limit: int = 200) -> list[str]: ...

    # --- delivery -------------------------------------------------------------------

    def due_endpoints(self, now: datetime, defaults: DeliverySettings) -> list[Due]: ...

    def claim_batch(self, endpoint_id: int, lease_id: str, now: datetime, defaults: DeliverySettings) -> Claim | None:
        """Lease the endpoint's next batch to ``lease_id``; None if it may start none now."""
        ...

    def record_outcome(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int = 0,
    ) -> Recorded | None:
        """Write a request's outcome if the lease is still ``lease_id``'s; None if it was lost."""
        ...

    def record_and_claim(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int,
        defaults: DeliverySettings,
    ) -> tuple[Recorded | None, Claim | None]:
        """:meth:`record_outcome`, then after a success the endpoint's next batch, in one transaction."""
        ...

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None: ...

    def release_batch(self, batch_id: str, lease_id: str) -> None: ...

    # --- looking --------------------------------------------------------------------

    def status(self, now: datetime) -> list[EndpointStatus]: ...

    def attempts(
        self,
        endpoint_id: int | None = None,
        status: int | str | None = None,
        event_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Attempt]:
        """The newest ``limit`` attempts matching every filter given, oldest first.

        ``status`` is an HTTP status code, "ok" or "failed"; ``since`` and
        ``until`` bound the start time (inclusive, exclusive).
        """
        ...

    def attempts_page(
        self,
        endpoint_id: int | None = None,
        status: int | str | None = None,
        event_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Attempt]:
        """Up to ``limit`` attempts matching the filters (as :meth:`attempts`), newest first, from
        the one before attempt ``before`` on: a page of the log, whose next page starts before its last."""
        ...

    def attempt_record(self, attempt_id: int) -> AttemptRecord: ...

    def event_view(self, event_id: int) -> EventView: ...

    def recent_figures(self, since: datetime) -> list[RecentFigures]: ...

    def delivery_counts(self) -> list[DeliveryCount]: ...

    def attempt_counts(self) -> list[AttemptCount]: ...

    def request_durations(self, bounds_s: Sequence[float]) -> DurationHistogram: ...

    # --- recovery -------------------------------------------------------------------

    def dead(self, endpoint_id: int | None = None) -> list[DeadLetter]: ...

    def dead_page(
        self, selection: Selection, before: tuple[int, int] | None = None, limit: int = 50
    ) -> list[DeadLetter]: ...

    def replay_dead(self, deliveries: Iterable[tuple[int, int]]) -> int: ...

    def count_replayable(self, selection: Selection) -> int: ...

    def replay(self, selection: Selection, progress: Callable[[int], None] = ...) -> int: ...

    def prune_batches(self, cutoff: datetime, states: tuple[str, ...]) -> Pruned: ...

    def prune_unsubscribed_events(self, cutoff: datetime) -> tuple[Pruned, bool]: ...

    def prune_test_attempts(self, cutoff: datetime) -> Pruned: ...

    # --- access (API keys and admin sessions) ------------------------------------------

    def insert_api_key(self, name: str | None, key_sha256: str, read_only: bool, now: datetime) -> ApiKey: ...

    def api_keys(self) -> list[ApiKey]: ...

    def count_api_keys(self) -> int: ...

    def delete_api_key(self, key_id: int) -> None: ...

    def api_key_by_hash(self, key_sha256: str) -> tuple[ApiKey, str] | None: ...

    def mark_api_key_used(self, key_id: int, now: datetime) -> None: ...

    def insert_web_session(
        self, token_sha256: str, key_id: int, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def web_session(self, token_sha256: str, now: datetime) -> WebSession | None: ...

    def delete_web_session(self, token_sha256: str) -> None: ...
