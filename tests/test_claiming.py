"""Claims with several batches of an endpoint in flight, each under its own lease: the places in
flight, the whole-endpoint back-off, and the rate limit, on a real SQLite file with a manual clock."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import endpoints
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import defaults_from
from dispatcher.delivery_rules import lease_seconds
from dispatcher.models import Claim, Outcome
from dispatcher.producer import Queue
from dispatcher.store import Store


def add(store: Store, **options: object) -> int:
    return endpoints.add(store, "http://127.0.0.1:9/hook", secret="s", batch_size=2, **options).id  # type: ignore[arg-type]


def claim(store: Store, endpoint_id: int, lease: str, clock: ManualClock) -> Claim | None:
    return store.claim_batch(endpoint_id, lease, clock.now(), defaults_from(store.config()))


def event_ids(claimed: Claim | None) -> list[int]:
    assert claimed is not None
    return [event.id for event in claimed[2].events]


def ok() -> Outcome:
    return Outcome(ok=True, started_at=from_text("2026-11-22T10:00:00.000Z"), duration_ms=1, status_code=200)


def failed(retry_after: float | None = None) -> Outcome:
    return Outcome(
        ok=False,
        started_at=from_text("2026-11-22T10:00:00.000Z"),
        duration_ms=1,
        status_code=503,
        retry_after=retry_after,
    )


def test_an_endpoint_has_as_many_batches_in_flight_as_its_concurrency_in_queue_order(
    store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(store, concurrency=3)
    Queue(store).enqueue_many("a", [{}] * 10)
    claims = [claim(store, endpoint_id, f"slot-{n}", clock) for n in range(3)]
    assert [event_ids(claimed) for claimed in claims] == [[1, 2], [3, 4], [5, 6]]
    assert claim(store, endpoint_id, "slot-3", clock) is None  # every place is taken
    assert [due.free for due in store.due_endpoints(clock.now(), defaults_from(store.config()))] == []
    (status,) = store.status(clock.now())
    assert (status.in_flight, status.pending) == (6, 4)

    first = claims[0]
    assert first is not None
    recorded, following = store.record_and_claim(first[2], "slot-0", ok(), None, clock.now(), 0, first[1])
    assert recorded is not None and recorded.state == "delivered"
    assert event_ids(following) == [7, 8]  # the freed place goes on with the next batch


def test_concurrency_1_keeps_one_batch_in_flight(store: Store, clock: ManualClock) -> None:
    endpoint_id = add(store)
    Queue(store).enqueue_many("a", [{}] * 4)
    assert event_ids(claim(store, endpoint_id, "a", clock)) == [1, 2]
    assert claim(store, endpoint_id, "b", clock) is None


def test_a_killed_sender_s_batch_is_sent_again_first_once_its_lease_runs_out(store: Store, clock: ManualClock) -> None:
    endpoint_id = add(store, concurrency=2, timeout=1.0)
    Queue(store).enqueue_many("a", [{}] * 10)
    killed = claim(store, endpoint_id, "killed", clock)
    alive = claim(store, endpoint_id, "alive", clock)
    assert killed is not None and alive is not None
    store.record_outcome(alive[2], "alive", ok(), None, clock.now())
    clock.advance(lease_seconds(1.0) + 0.001)
    again = claim(store, endpoint_id, "next", clock)
    assert again is not None and again[2].id == killed[2].id and event_ids(again) == [1, 2]
    assert event_ids(claim(store, endpoint_id, "after", clock)) == [5, 6]
    assert store.record_outcome(killed[2], "killed", ok(), None, clock.now()) is None  # its late outcome


def test_after_a_failure_no_new_batch_starts_until_the_retry_which_goes_first_and_alone(
    store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(store, concurrency=3, retry="fixed:10s")
    Queue(store).enqueue_many("a", [{}] * 20)
    a, b = claim(store, endpoint_id, "a", clock), claim(store, endpoint_id, "b", clock)
    assert a is not None and b is not None
    store.record_outcome(a[2], "a", failed(), clock.now() + timedelta(seconds=10), clock.now())
    # Places are free, events are queued, yet the endpoint backs off as a whole.
    assert claim(store, endpoint_id, "c", clock) is None
    # While the last request failed, one batch in flight is all it may have: b's place.
    assert store.due_endpoints(clock.now(), defaults_from(store.config())) == []
    store.record_outcome(b[2], "b", ok(), None, clock.now())  # the batch already in flight finishes
    assert claim(store, endpoint_id, "c", clock) is None
    [due] = store.due_endpoints(clock.now(), defaults_from(store.config()))
    assert (due.due_at - clock.now(), due.free) == (timedelta(seconds=10), 3)

    clock.advance(10)
    retry = claim(store, endpoint_id, "retry", clock)
    assert retry is not None and retry[2].id == a[2].id and retry[2].attempts == 1
    store.record_outcome(retry[2], "retry", failed(), clock.now() + timedelta(seconds=10), clock.now())
    clock.advance(10)
    probe = claim(store, endpoint_id, "probe", clock)
    assert probe is not None and probe[2].id == a[2].id
    assert claim(store, endpoint_id, "more", clock) is None  # the receiver failed last: one probe at a time

    recorded, following = store.record_and_claim(probe[2], "probe", ok(), None, clock.now(), 0, probe[1])
    assert recorded is not None and event_ids(following) == [5, 6]
    assert event_ids(claim(store, endpoint_id, "more", clock)) == [7, 8]  # back to three in flight
    assert event_ids(claim(store, endpoint_id, "more still", clock)) == [9, 10]


def test_retry_after_pauses_every_place_of_the_endpoint(store: Store, clock: ManualClock) -> None:
    endpoint_id = add(store, concurrency=4)
    Queue(store).enqueue_many("a", [{}] * 20)
    throttled = claim(store, endpoint_id, "a", clock)
    assert throttled is not None
    store.record_outcome(throttled[2], "a", failed(retry_after=30), clock.now() + timedelta(seconds=30), clock.now())
    clock.advance(29.999)
    assert claim(store, endpoint_id, "b", clock) is None
    clock.advance(0.001)
    again = claim(store, endpoint_id, "b", clock)
    assert again is not None and again[2].id == throttled[2].id


def test_the_rate_limit_spaces_claims_across_every_lease_and_a_new_limit_counts_at_once(
    store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(store, concurrency=4, rate_limit="4/s")
    Queue(store).enqueue_many("a", [{}] * 20)
    assert claim(store, endpoint_id, "a", clock) is not None
    assert claim(store, endpoint_id, "b", clock) is None  # a free place, but too soon
    [due] = store.due_endpoints(clock.now(), defaults_from(store.config()))
    assert (due.due_at - clock.now(), due.free) == (timedelta(seconds=0.25), 3)
    clock.advance(0.249)
    assert claim(store, endpoint_id, "b", clock) is None
    clock.advance(0.001)
    assert claim(store, endpoint_id, "b", clock) is not None

    endpoints.update(store, endpoint_id, rate_limit="60/m")
    clock.advance(0.999)
    assert claim(store, endpoint_id, "c", clock) is None
    clock.advance(0.001)
    assert claim(store, endpoint_id, "c", clock) is not None
    endpoints.update(store, endpoint_id, rate_limit=None)  # back to the global default: none
    assert claim(store, endpoint_id, "d", clock) is not None


def test_the_global_concurrency_and_rate_limit_apply_to_endpoints_without_their_own(
    store: Store, clock: ManualClock
) -> None:
    store.set_config("concurrency", "2")
    store.set_config("rate_limit", "10/s")
    endpoint_id = add(store)
    Queue(store).enqueue_many("a", [{}] * 20)
    assert claim(store, endpoint_id, "a", clock) is not None
    assert claim(store, endpoint_id, "b", clock) is None
    clock.advance(0.1)
    assert claim(store, endpoint_id, "b", clock) is not None
    clock.advance(0.1)
    assert claim(store, endpoint_id, "c", clock) is None  # both places taken


def test_a_batch_given_back_unsent_is_the_next_one_claimed(store: Store, clock: ManualClock) -> None:
    endpoint_id = add(store, concurrency=2)
    Queue(store).enqueue_many("a", [{}] * 10)
    given_back = claim(store, endpoint_id, "a", clock)
    assert given_back is not None
    store.release_batch(given_back[2].id, "a")
    again = claim(store, endpoint_id, "b", clock)
    assert again is not None and again[2] == given_back[2]
