"""Claims with several batches of an endpoint in flight, each under its own lease: the places in
flight, the whole-endpoint back-off, and the rate limit, on each backend with a manual clock."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.config import defaults_from
from dispatcher.delivery_rules import lease_seconds
from dispatcher.producer import Queue
from dispatcher.store import Store

from .claim_helpers import add, claim, event_ids, failed, ok


def test_an_endpoint_has_as_many_batches_in_flight_as_its_concurrency_in_queue_order(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=3)
    Queue(any_store).enqueue_many("a", [{}] * 10)
    claims = [claim(any_store, endpoint_id, f"slot-{n}", clock) for n in range(3)]
    assert [event_ids(claimed) for claimed in claims] == [[1, 2], [3, 4], [5, 6]]
    assert claim(any_store, endpoint_id, "slot-3", clock) is None  # every place is taken
    assert [due.free for due in any_store.due_endpoints(clock.now(), defaults_from(any_store.config()))] == []
    (status,) = any_store.status(clock.now())
    assert (status.in_flight, status.pending) == (6, 4)

    first = claims[0]
    assert first is not None
    recorded, following = any_store.record_and_claim(first[2], "slot-0", ok(), None, clock.now(), 0, first[1])
    assert recorded is not None and recorded.state == "delivered"
    assert event_ids(following) == [7, 8]  # the freed place goes on with the next batch


def test_concurrency_1_keeps_one_batch_in_flight(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2)
    Queue(any_store).enqueue_many("a", [{}] * 4)
    assert event_ids(claim(any_store, endpoint_id, "a", clock)) == [1, 2]
    assert claim(any_store, endpoint_id, "b", clock) is None


def test_a_killed_sender_s_batch_is_sent_again_first_once_its_lease_runs_out(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=2, timeout=1.0)
    Queue(any_store).enqueue_many("a", [{}] * 10)
    killed = claim(any_store, endpoint_id, "killed", clock)
    alive = claim(any_store, endpoint_id, "alive", clock)
    assert killed is not None and alive is not None
    any_store.record_outcome(alive[2], "alive", ok(), None, clock.now())
    clock.advance(lease_seconds(1.0) + 0.001)
    again = claim(any_store, endpoint_id, "next", clock)
    assert again is not None and again[2].id == killed[2].id and event_ids(again) == [1, 2]
    assert event_ids(claim(any_store, endpoint_id, "after", clock)) == [5, 6]
    assert any_store.record_outcome(killed[2], "killed", ok(), None, clock.now()) is None  # its late outcome


def test_after_a_failure_no_new_batch_starts_until_the_retry_which_goes_first_and_alone(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=3, retry="fixed:10s")
    Queue(any_store).enqueue_many("a", [{}] * 20)
    a, b = claim(any_store, endpoint_id, "a", clock), claim(any_store, endpoint_id, "b", clock)
    assert a is not None and b is not None
    any_store.record_outcome(a[2], "a", failed(), clock.now() + timedelta(seconds=10), clock.now())
    # Places are free, events are queued, yet the endpoint backs off as a whole.
    assert claim(any_store, endpoint_id, "c", clock) is None
    # While the last request failed, one batch in flight is all it may have: b's place.
    assert any_store.due_endpoints(clock.now(), defaults_from(any_store.config())) == []
    any_store.record_outcome(b[2], "b", ok(), None, clock.now())  # the batch already in flight finishes
    assert claim(any_store, endpoint_id, "c", clock) is None
    [due] = any_store.due_endpoints(clock.now(), defaults_from(any_store.config()))
    assert (due.due_at - clock.now(), due.free) == (timedelta(seconds=10), 3)

    clock.advance(10)
    retry = claim(any_store, endpoint_id, "retry", clock)
    assert retry is not None and retry[2].id == a[2].id and retry[2].attempts == 1
    any_store.record_outcome(retry[2], "retry", failed(), clock.now() + timedelta(seconds=10), clock.now())
    clock.advance(10)
    probe = claim(any_store, endpoint_id, "probe", clock)
    assert probe is not None and probe[2].id == a[2].id
    assert claim(any_store, endpoint_id, "more", clock) is None  # the receiver failed last: one probe at a time

    recorded, following = any_store.record_and_claim(probe[2], "probe", ok(), None, clock.now(), 0, probe[1])
    assert recorded is not None and event_ids(following) == [5, 6]
    assert event_ids(claim(any_store, endpoint_id, "more", clock)) == [7, 8]  # back to three in flight
    assert event_ids(claim(any_store, endpoint_id, "more still", clock)) == [9, 10]


def test_retry_after_pauses_every_place_of_the_endpoint(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=4)
    Queue(any_store).enqueue_many("a", [{}] * 20)
    throttled = claim(any_store, endpoint_id, "a", clock)
    assert throttled is not None
    any_store.record_outcome(
        throttled[2], "a", failed(retry_after=30), clock.now() + timedelta(seconds=30), clock.now()
    )
    clock.advance(29.999)
    assert claim(any_store, endpoint_id, "b", clock) is None
    clock.advance(0.001)
    again = claim(any_store, endpoint_id, "b", clock)
    assert again is not None and again[2].id == throttled[2].id


def test_the_rate_limit_spaces_claims_across_every_lease_and_a_new_limit_counts_at_once(
    any_store: Store, clock: ManualClock
) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=4, rate_limit="4/s")
    Queue(any_store).enqueue_many("a", [{}] * 20)
    assert claim(any_store, endpoint_id, "a", clock) is not None
    assert claim(any_store, endpoint_id, "b", clock) is None  # a free place, but too soon
    [due] = any_store.due_endpoints(clock.now(), defaults_from(any_store.config()))
    assert (due.due_at - clock.now(), due.free) == (timedelta(seconds=0.25), 3)
    clock.advance(0.249)
    assert claim(any_store, endpoint_id, "b", clock) is None
    clock.advance(0.001)
    assert claim(any_store, endpoint_id, "b", clock) is not None

    endpoints.update(any_store, endpoint_id, rate_limit="60/m")
    clock.advance(0.999)
    assert claim(any_store, endpoint_id, "c", clock) is None
    clock.advance(0.001)
    assert claim(any_store, endpoint_id, "c", clock) is not None
    endpoints.update(any_store, endpoint_id, rate_limit=None)  # back to the global default: none
    assert claim(any_store, endpoint_id, "d", clock) is not None


def test_the_global_concurrency_and_rate_limit_apply_to_endpoints_without_their_own(
    any_store: Store, clock: ManualClock
) -> None:
    any_store.set_config("concurrency", "2")
    any_store.set_config("rate_limit", "10/s")
    endpoint_id = add(any_store, batch_size=2)
    Queue(any_store).enqueue_many("a", [{}] * 20)
    assert claim(any_store, endpoint_id, "a", clock) is not None
    assert claim(any_store, endpoint_id, "b", clock) is None
    clock.advance(0.1)
    assert claim(any_store, endpoint_id, "b", clock) is not None
    clock.advance(0.1)
    assert claim(any_store, endpoint_id, "c", clock) is None  # both places taken


def test_a_batch_given_back_unsent_is_the_next_one_claimed(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = add(any_store, batch_size=2, concurrency=2)
    Queue(any_store).enqueue_many("a", [{}] * 10)
    given_back = claim(any_store, endpoint_id, "a", clock)
    assert given_back is not None
    any_store.release_batch(given_back[2].id, "a")
    again = claim(any_store, endpoint_id, "b", clock)
    assert again is not None and again[2] == given_back[2]
