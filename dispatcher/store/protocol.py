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
    DeadLetter,
    DeliverySettings,
    Endpoint,
    EndpointStatus,
    EventView,
    Outcome,
    Pruned,
    Recorded,
    Selection,
)
from .types import Claim, Due, EndpointChange, Staged

# How many finished batches (or events, or test attempts) replay and prune handle in one
# transaction: each chunk is short, so producers and delivery runs never wait long for them.
CHUNK = 500


class Store(Protocol):
    # --- the store itself ---------------------------------------------------------

    def close(self) -> None: ...

    def answers(self) -> bool:
        """Whether the database can be read now (for a health check)."""

    def schema_version(self) -> int | None:
        """The schema version the database holds; None if the dispatcher never set it up."""

    def maintain(self) -> None:
        """Housekeeping after many rows went (pruning): whatever the database needs to reuse the space."""

    def wait_for_events(self, timeout: float, stop: threading.Event) -> bool:
        """Wait at most ``timeout`` seconds, or until ``stop`` is set, for a producer to queue events;
        True as soon as one has. A database that cannot tell (SQLite) waits the whole time and
        answers False: the caller's next look is the fallback."""

    def chore(self, name: str) -> AbstractContextManager[bool]:
        """Hold the chore ``name`` (pruning, say) for as long as the block runs: True if this store
        got it, False while another run, on any host, holds it (then leave the chore to that run)."""

    # --- config -------------------------------------------------------------------

    def config(self) -> dict[str, str]: ...

    def set_config(self, key: str, value: str, due_at: datetime | None = None) -> int:
        """Store a global setting. With ``due_at``, every batch waiting for its retry becomes due
        then, in the same transaction; returns how many did."""

    # --- producers ------------------------------------------------------------------

    def insert_event(self, type_: str, payload: str) -> int:
        """Queue one event for its subscribers; returns its id."""

    def insert_event_counted(self, type_: str, payload: str) -> tuple[int, int]:
        """Queue one event; returns its id and how many endpoints it was queued for (0: kept, never
        sent), counted in the insert's transaction, before any run can claim the new rows."""

    def insert_events(self, rows: Iterable[tuple[str, str, datetime]]) -> int:
        """Queue many (type, payload, created_at) events in one transaction, all or none; returns the count."""

    def stage_events(self, rows: Iterable[tuple[str, str, datetime]]) -> Staged:
        """Insert events that no endpoint gets yet, in one transaction. :meth:`queue_staged` queues
        them for their endpoints, :meth:`drop_staged` deletes them: a large import writes in chunks,
        yet becomes deliverable all at once or not at all."""

    def queue_staged(self, staged: Iterable[Staged]) -> None:
        """Give staged events to their subscribers, all in one transaction."""

    def drop_staged(self, staged: Iterable[Staged]) -> None: ...

    def insert_events_once(
        self,
        rows: Sequence[tuple[str, str]],
        created_at: datetime,
        answer: Callable[[list[int]], StoredAnswer],
        once: IdempotencyKey | None = None,
        kept_since: datetime | None = None,
    ) -> tuple[StoredAnswer, bool]:
        """Queue the (type, payload) events, all or none, and return ``answer(ids)``; and whether it
        is a repeat's. With ``once``, a request already answered under its key since ``kept_since``
        queues nothing and gets the answer kept then, a different request under it a Conflict.

        The look-up, the inserts and the record are one transaction: two repeats arriving together
        cannot both queue. Records from before ``kept_since`` go as new ones come."""

    # --- endpoints ------------------------------------------------------------------

    def insert_endpoint(self, fields: dict[str, Any]) -> int: ...

    def change_endpoint(self, endpoint_id: int, change: Callable[[Endpoint], EndpointChange]) -> tuple[Endpoint, int]:
        """Read the endpoint, ask ``change`` what to write, and write it, in one transaction: two
        admins changing it at once do not lose one's change. With the change's ``due_at``, the
        batch waiting for its retry becomes due then. Returns the endpoint as written and how
        many batches became due (0 or 1). What ``change`` raises leaves the endpoint as it was."""

    def endpoint(self, endpoint_id: int) -> Endpoint: ...

    def endpoints(self) -> list[Endpoint]: ...

    def endpoints_after(self, after: int | None, limit: int) -> list[Endpoint]:
        """Up to ``limit`` endpoints with ids above ``after`` (None: from the first), by id."""

    def require_endpoint(self, endpoint_id: int | None) -> None:
        """Raise NotFound for an id that names no endpoint (None names none and passes): a mistyped
        filter must not pass for an empty result."""

    def enable_endpoint(self, endpoint_id: int, now: datetime) -> None:
        """Resume an endpoint with a clean failure count; a retry it was waiting for is due at once."""

    def disable_endpoint(self, endpoint_id: int, reason: str, now: datetime) -> None: ...

    def delete_endpoint(self, endpoint_id: int) -> None: ...

    def event_types(self, recent: int = 10_000, limit: int = 200) -> list[str]:
        """The distinct types among the ``recent`` newest events, sorted by code point, at most
        ``limit`` of them. Bounded to recent events: a form offering them must not scan a queue of millions."""

    # --- delivery -------------------------------------------------------------------

    def due_endpoints(self, now: datetime, defaults: DeliverySettings) -> list[Due]:
        """Every enabled endpoint with work and a free place in flight, soonest due first.

        It is due when its first waiting batch is (a retry goes first), else now if it has
        pending deliveries; and not before its rate limit lets a request start. The places
        in flight are as :func:`~.claiming.claim` counts them, taken by any run on any host."""

    def claim_batch(self, endpoint_id: int, lease_id: str, now: datetime, defaults: DeliverySettings) -> Claim | None:
        """Lease the endpoint's next due batch to ``lease_id``: its first waiting batch, else up to
        ``batch_size`` pending deliveries as a new one. None when it may start none now (see
        :func:`~.claiming.claim`)."""

    def record_outcome(
        self,
        batch: Batch,
        lease_id: str,
        outcome: Outcome,
        next_due: datetime | None,
        now: datetime,
        disable_after: int = 0,
    ) -> Recorded | None:
        """Write one request's outcome, if the batch's lease is still ``lease_id``'s.

        On failure ``next_due`` is the retry time, or None when the batch is
        dead; either way the lease is released, and the endpoint starts no new
        batch before that time. The failure that makes ``disable_after``
        consecutive ones (0: never), or a 410 Gone, disables the endpoint; its
        deliveries stay queued. Returns None when the lease was lost and
        nothing was written."""

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
        """:meth:`record_outcome`, then after a success the endpoint's next batch under the same
        lease id, in one transaction: the delivery loop's step from one batch to the next, one
        commit instead of two."""

    def record_test_attempt(self, endpoint_id: int, delivery_id: str, outcome: Outcome) -> None:
        """Log an `endpoint test` request; no batch, counter or health field changes."""

    def release_batch(self, batch_id: str, lease_id: str) -> None:
        """Give back a batch claimed but not sent (the run is stopping): the next claim takes it first."""

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

    def attempt_record(self, attempt_id: int) -> AttemptRecord:
        """One attempt with all the log keeps of it, and its batch's events that are still stored."""

    def event_view(self, event_id: int) -> EventView:
        """The event, and for each endpoint it was queued for, where it stands and its batch's attempts."""

    def recent_figures(self, since: datetime) -> list[RecentFigures]:
        """Per endpoint: why it is disabled, events delivered and requests failed since ``since``."""

    def delivery_counts(self) -> list[DeliveryCount]:
        """Finished deliveries by outcome and the status class of their batch's last request."""

    def attempt_counts(self) -> list[AttemptCount]:
        """Requests by outcome and status class; test sends are not deliveries and not counted."""

    def request_durations(self, bounds_s: Sequence[float]) -> DurationHistogram:
        """How long requests took (test sends not counted), cumulative at each bound, in one pass."""

    # --- recovery -------------------------------------------------------------------

    def dead(self, endpoint_id: int | None = None) -> list[DeadLetter]:
        """One record per dead delivery, oldest death first."""

    def dead_page(
        self, selection: Selection, before: tuple[int, int] | None = None, limit: int = 50
    ) -> list[DeadLetter]:
        """Up to ``limit`` dead deliveries that ``selection`` picks (it need not say dead_only), newest
        event first, then by endpoint; from the one before the (event, endpoint) ``before`` on."""

    def replay_dead(self, deliveries: Iterable[tuple[int, int]]) -> int:
        """Put these (endpoint, event) deliveries back in the queue, those of them that are dead, in
        one transaction; returns how many. Their old batch and attempts stay as history, as in :meth:`replay`."""

    def count_replayable(self, selection: Selection) -> int: ...

    def replay(self, selection: Selection, progress: Callable[[int], None] = ...) -> int:
        """Put the selected finished deliveries back in the queue; returns how many.

        Only deliveries of delivered or dead batches qualify, so a delivery that
        is queued or in flight is never duplicated. The old batch and its
        attempts stay as history; the delivery starts again with no attempts.
        Finished batches are walked once, in order, CHUNK at a time; those
        finishing after the replay began (its own work, delivered again) are
        not replayed twice."""

    def prune_batches(self, cutoff: datetime, states: tuple[str, ...]) -> Pruned:
        """Delete one chunk of batches in ``states`` finished before ``cutoff``, with what only they need."""

    def prune_unsubscribed_events(self, cutoff: datetime) -> tuple[Pruned, bool]:
        """Delete, among the next CHUNK events not yet checked, those queued before ``cutoff`` that
        no endpoint needs. Returns what went, and whether events further on may still be old enough."""

    def prune_test_attempts(self, cutoff: datetime) -> Pruned: ...

    # --- access (API keys and admin sessions) ------------------------------------------

    def insert_api_key(self, name: str | None, key_sha256: str, read_only: bool, now: datetime) -> ApiKey: ...

    def api_keys(self) -> list[ApiKey]: ...

    def count_api_keys(self) -> int: ...

    def delete_api_key(self, key_id: int) -> None:
        """Revoke a key; its admin sessions and idempotency records go with it (foreign keys)."""

    def api_key_by_hash(self, key_sha256: str) -> tuple[ApiKey, str] | None:
        """The key stored under this hash, and the stored hash (for a constant-time comparison)."""

    def mark_api_key_used(self, key_id: int, now: datetime) -> None:
        """Record when a key was last used, at most once a minute: not a write per request."""

    def insert_web_session(
        self, token_sha256: str, key_id: int, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def web_session(self, token_sha256: str, now: datetime) -> WebSession | None: ...

    def delete_web_session(self, token_sha256: str) -> None: ...
