"""The delivery loop's store statements on each backend: due endpoints, claims under leases, outcomes
written only by the lease holder, and what becomes of the queue around them."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import endpoints
from dispatcher.clock import ManualClock, to_text
from dispatcher.config import BUILT_IN
from dispatcher.delivery_rules import lease_seconds
from dispatcher.models import Outcome
from dispatcher.producer import Queue
from dispatcher.store import Store

from .claim_helpers import add, event_ids, failed, ok
from .helpers import change_rows, table_rows


def test_a_lease_keeps_a_second_claimer_out_until_it_expires(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, timeout=10.0)
    Queue(any_store).enqueue_many("a", [{}] * 3)

    first = any_store.claim_batch(endpoint_id, "lease-a", clock.now(), BUILT_IN)
    assert first is not None
    assert any_store.claim_batch(endpoint_id, "lease-b", clock.now(), BUILT_IN) is None

    clock.advance(lease_seconds(10) - 0.001)
    assert any_store.claim_batch(endpoint_id, "lease-b", clock.now(), BUILT_IN) is None
    clock.advance(0.002)
    second = any_store.claim_batch(endpoint_id, "lease-b", clock.now(), BUILT_IN)
    assert second is not None and second[2] == first[2]  # the same batch, resent
    # The expired holder's late outcome is not written.
    assert any_store.record_outcome(first[2], "lease-a", ok(), None, clock.now()) is None
    recorded = any_store.record_outcome(second[2], "lease-b", ok(), None, clock.now())
    assert recorded is not None and recorded.state == "delivered"


def test_claims_skip_disabled_endpoints_and_release_when_nothing_is_due(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store)
    assert any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN) is None
    assert table_rows(any_store, "SELECT count(*) FROM batches") == [(0,)]

    endpoints.disable(any_store, endpoint_id, clock.now())
    Queue(any_store).enqueue("a", {})
    assert any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN) is None
    assert any_store.due_endpoints(clock.now(), BUILT_IN) == []


def test_a_failed_batch_is_not_due_before_its_retry(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store)
    Queue(any_store).enqueue_many("a", [{}] * 15)
    _, _, batch = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    failure = Outcome(ok=False, started_at=clock.now(), duration_ms=1, status_code=500, error="HTTP 500")
    retry_at = clock.now() + timedelta(seconds=5)
    recorded = any_store.record_outcome(batch, "lease", failure, retry_at, clock.now())
    assert recorded is not None and recorded.state == "pending"

    # Unbatched events are waiting too, but the open batch goes first.
    assert any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN) is None
    [due] = any_store.due_endpoints(clock.now(), BUILT_IN)
    assert (due.endpoint_id, to_text(due.due_at), due.free) == (endpoint_id, "2026-11-22T10:00:05.000Z", 1)
    clock.advance(5)
    again = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)
    assert again is not None and again[2].id == batch.id and again[2].attempts == 1


def test_a_success_records_and_claims_the_next_batch_in_one_step(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2)
    Queue(any_store).enqueue_many("a", [{}] * 3)
    _, _, first = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    recorded, claim = any_store.record_and_claim(first, "lease", ok(), None, clock.now(), 0, BUILT_IN)
    assert recorded is not None and recorded.state == "delivered"
    assert claim is not None and [event.id for event in claim[2].events] == [3]
    # The last batch: delivered, nothing left to claim, and the lease given back.
    recorded, claim = any_store.record_and_claim(claim[2], "lease", ok(), None, clock.now(), 0, BUILT_IN)
    assert recorded is not None and recorded.state == "delivered" and claim is None
    assert (
        any_store.due_endpoints(clock.now(), BUILT_IN) == []
        and any_store.claim_batch(endpoint_id, "other", clock.now(), BUILT_IN) is None
    )
    assert any_store.status(clock.now())[0].delivered == 3


def test_a_success_after_the_endpoint_was_disabled_is_recorded_and_claims_nothing(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=1)
    Queue(any_store).enqueue_many("a", [{}] * 2)
    _, _, batch = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    endpoints.disable(any_store, endpoint_id, clock.now())  # by a user, while the request was out
    recorded, claim = any_store.record_and_claim(batch, "lease", ok(), None, clock.now(), 0, BUILT_IN)
    assert recorded is not None and recorded.state == "delivered" and claim is None
    (status,) = any_store.status(clock.now())
    assert (status.delivered, status.pending, status.enabled) == (1, 1, False)
    endpoints.enable(any_store, endpoint_id, clock.now())
    assert any_store.claim_batch(endpoint_id, "next", clock.now(), BUILT_IN) is not None  # the lease was given back


def test_a_success_after_the_lease_was_lost_writes_nothing(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, timeout=1.0)
    Queue(any_store).enqueue_many("a", [{}])
    _, _, batch = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    clock.advance(lease_seconds(1.0) + 1)
    assert any_store.claim_batch(endpoint_id, "another run", clock.now(), BUILT_IN) is not None
    assert any_store.record_and_claim(batch, "lease", ok(), None, clock.now(), 0, BUILT_IN) == (None, None)
    assert any_store.attempts(endpoint_id) == [] and any_store.status(clock.now())[0].in_flight == 1


def test_a_queued_event_deleted_by_hand_is_skipped_not_stuck(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2)
    Queue(any_store).enqueue_many("a", [{}] * 3)
    # Around the dispatcher; its delivery stays queued.
    assert change_rows(any_store, "DELETE FROM events WHERE id = 1 RETURNING id") == [(1,)]

    _, _, batch = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    assert [event.id for event in batch.events] == [2, 3]
    any_store.record_outcome(batch, "lease", ok(), None, clock.now())
    assert any_store.due_endpoints(clock.now(), BUILT_IN) == []  # nothing left that could ever be sent


def test_deleting_an_endpoint_removes_its_queue_and_history(any_store: Store, clock: ManualClock) -> None:
    keep, drop = add(any_store), add(any_store)
    Queue(any_store).enqueue_many("a", [{}] * 3)
    _, _, batch = any_store.claim_batch(drop, "lease", clock.now(), BUILT_IN)  # type: ignore[misc]
    any_store.record_outcome(batch, "lease", ok(), None, clock.now())

    any_store.delete_endpoint(drop)

    counts = {
        table: table_rows(any_store, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("pending", "deliveries", "batches", "attempts", "events")
    }
    assert counts == {"pending": 3, "deliveries": 0, "batches": 0, "attempts": 0, "events": 3}
    assert [s.endpoint for s in any_store.status(clock.now())] == [keep]


def test_newest_first_takes_the_latest_events_and_leaves_the_older_queued(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2, order="desc")
    Queue(any_store).enqueue_many("a", [{}] * 5)
    first = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)
    assert event_ids(first) == [5, 4]
    assert table_rows(any_store, "SELECT event_id FROM pending ORDER BY event_id") == [(1,), (2,), (3,)]


def test_a_waiting_batch_is_cut_to_a_smaller_batch_size_and_the_rest_queued_again_in_order(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=3)
    Queue(any_store).enqueue_many("a", [{}] * 4)
    claimed = any_store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)
    assert claimed is not None and event_ids(claimed) == [1, 2, 3]
    any_store.record_outcome(claimed.batch, "lease", failed(), clock.now(), clock.now())

    endpoints.update(any_store, endpoint_id, batch_size=1)
    retry = any_store.claim_batch(endpoint_id, "retry", clock.now(), BUILT_IN)
    assert retry is not None and retry.batch.id == claimed.batch.id and event_ids(retry) == [1]
    any_store.record_outcome(retry.batch, "retry", ok(), None, clock.now())
    following = []
    while claimed := any_store.claim_batch(endpoint_id, "next", clock.now(), BUILT_IN):
        following.append(event_ids(claimed))
        any_store.record_outcome(claimed.batch, "next", ok(), None, clock.now())
    assert following == [[2], [3], [4]]


def test_a_test_request_is_logged_and_changes_nothing_else(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store)
    Queue(any_store).enqueue("a", {})
    any_store.record_test_attempt(endpoint_id, "test-delivery", failed())
    [attempt] = any_store.attempts(endpoint_id)
    assert (attempt.batch_id, attempt.test, attempt.ok, attempt.status_code) == ("test-delivery", True, False, 503)
    (status,) = any_store.status(clock.now())
    assert (status.consecutive_failures, status.last_error, status.pending, status.enabled) == (0, None, 1, True)


def test_giving_back_a_batch_needs_its_lease(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, concurrency=2)
    Queue(any_store).enqueue("a", {})
    claimed = any_store.claim_batch(endpoint_id, "mine", clock.now(), BUILT_IN)
    assert claimed is not None
    any_store.release_batch(claimed.batch.id, "someone else's")
    assert any_store.claim_batch(endpoint_id, "other", clock.now(), BUILT_IN) is None  # still in flight
    any_store.release_batch(claimed.batch.id, "mine")
    again = any_store.claim_batch(endpoint_id, "other", clock.now(), BUILT_IN)
    assert again is not None and again.batch == claimed.batch
