"""The store's recovery statements on each backend: dead letters, replay and prune, after real
deliveries to a real receiver on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints, ping, recovery
from dispatcher.clock import ManualClock
from dispatcher.config import BUILT_IN, defaults_from
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import DispatcherError
from dispatcher.models import Outcome, Pruned, Selection
from dispatcher.producer import Queue
from dispatcher.store import Location, Store, open_store
from dispatcher.store.protocol import CHUNK

from .helpers import table_rows

History = tuple[int, int, list[int]]


@pytest.fixture
def history(any_store: Store, location: Location, receiver: HTTPServer, clock: ManualClock) -> History:
    """Endpoint `ok` got every event; endpoint `down` let them all die. Returns (ok, down, event ids)."""
    receiver.expect_request("/ok").respond_with_data("fine")
    receiver.expect_request("/down").respond_with_data("broken", status=500)
    ok = endpoints.add(any_store, receiver.url_for("/ok"), batch_size=2, allow_private=True).id
    down = endpoints.add(
        any_store, receiver.url_for("/down"), batch_size=2, max_attempts=1, disable_after=0, allow_private=True
    ).id
    ids = [Queue(any_store).enqueue("lead.created", {"n": n}) for n in range(5)]
    run(location, RunOptions(time_limit=5), clock=clock)
    return ok, down, ids


def pending_ids(store: Store, endpoint_id: int) -> list[int]:
    rows = table_rows(store, "SELECT event_id FROM pending WHERE endpoint_id = ? ORDER BY event_id", endpoint_id)
    return [row[0] for row in rows]


def counts(store: Store) -> dict[str, int]:
    return {
        table: table_rows(store, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("events", "deliveries", "batches", "attempts")
    }


def delivered_one_by_one(store: Store, clock: ManualClock, count: int) -> int:
    """An endpoint that got ``count`` events, each in a batch of its own (no HTTP: outcomes recorded as
    a run records them). Returns its id."""
    endpoint_id = endpoints.add(store, "http://127.0.0.1:9/hook", batch_size=1).id
    store.insert_events([("t", "{}", clock.now())] * count)
    answered = Outcome(ok=True, started_at=clock.now(), duration_ms=1, status_code=200)
    while claim := store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN):
        store.record_outcome(claim.batch, "lease", answered, None, clock.now())
    return endpoint_id


def test_dead_lists_one_record_per_dead_delivery(any_store: Store, history: History) -> None:
    ok, down, ids = history
    dead = any_store.dead()
    assert [(letter.endpoint, letter.event_id) for letter in dead] == [(down, event_id) for event_id in ids]
    assert {(letter.type, letter.attempts, letter.last_error) for letter in dead} == {("lead.created", 1, "HTTP 500")}
    assert any_store.dead(ok) == []


def test_replay_puts_dead_deliveries_back_as_fresh_work(
    any_store: Store, location: Location, receiver: HTTPServer, clock: ManualClock, history: History
) -> None:
    ok, down, ids = history
    selection = Selection(endpoint_id=down, dead_only=True)
    assert recovery.count_replayable(any_store, selection) == 5
    assert recovery.replay(any_store, selection) == 5
    assert any_store.dead() == [] and pending_ids(any_store, down) == ids
    failed_before = len(any_store.attempts(down))
    # The receiver is fixed; the replayed events go out, starting again from attempt 1.
    receiver.clear()
    receiver.expect_request("/down").respond_with_data("fixed")
    run(location, RunOptions(time_limit=5), clock=clock)
    assert any_store.status(clock.now())[1].delivered == 5
    assert len(any_store.attempts(down)) == failed_before + 3  # history kept: the old attempts are still there


def test_replay_of_delivered_events_by_event_and_time(any_store: Store, history: History) -> None:
    ok, down, ids = history
    assert recovery.replay(any_store, Selection(event_id=ids[0], endpoint_id=ok)) == 1
    assert pending_ids(any_store, ok) == [ids[0]]
    later = datetime.now(UTC) + timedelta(days=1)  # producers' rows carry the database's own time
    assert recovery.count_replayable(any_store, Selection(since=later)) == 0
    assert recovery.count_replayable(any_store, Selection(until=later)) == 9  # 4 delivered to ok, 5 dead


def test_replay_never_duplicates_queued_or_in_flight_deliveries(
    any_store: Store, clock: ManualClock, history: History
) -> None:
    ok, down, ids = history
    recovery.replay(any_store, Selection(endpoint_id=ok))
    assert pending_ids(any_store, ok) == ids
    # Replaying the same events again finds nothing to do: they are already queued.
    assert recovery.replay(any_store, Selection(endpoint_id=ok)) == 0
    # A batch in flight (claimed, not yet answered) is not replayable either.
    claim = any_store.claim_batch(ok, "lease", clock.now(), defaults_from(any_store.config()))
    assert claim is not None
    assert recovery.count_replayable(any_store, Selection(event_id=claim.batch.events[0].id, endpoint_id=ok)) == 0


def test_replay_reports_progress_in_chunks(any_store: Store, clock: ManualClock) -> None:
    endpoint_id = delivered_one_by_one(any_store, clock, 2 * CHUNK + 200)
    steps: list[int] = []
    assert recovery.replay(any_store, Selection(endpoint_id=endpoint_id), steps.append) == 2 * CHUNK + 200
    assert steps == [CHUNK, CHUNK, 200]


def test_replays_and_a_prune_racing_each_other_move_every_delivery_once(
    any_store: Store, location: Location, clock: ManualClock
) -> None:
    """Two replays and a prune of the same finished batches at once, each on its own connection:
    every delivery is either queued again exactly once or pruned, and no queued event is deleted."""
    endpoint_id = delivered_one_by_one(any_store, clock, 60)
    start = threading.Barrier(3)
    results: list[Any] = []

    def alone(work: Callable[[Store], Any]) -> None:
        store = open_store(location)
        try:
            start.wait()
            results.append(work(store))
        finally:
            store.close()

    everyone = [
        threading.Thread(target=alone, args=(lambda store: store.replay(Selection(endpoint_id=endpoint_id)),)),
        threading.Thread(target=alone, args=(lambda store: store.replay(Selection(endpoint_id=endpoint_id)),)),
        threading.Thread(
            target=alone, args=(lambda store: store.prune_batches(clock.now() + timedelta(days=1), ("delivered",)),)
        ),
    ]
    for thread in everyone:
        thread.start()
    for thread in everyone:
        thread.join()

    (pruned,) = [result for result in results if isinstance(result, Pruned)]
    replayed = sum(result for result in results if isinstance(result, int))
    assert replayed + pruned.deliveries == 60
    assert len(pending_ids(any_store, endpoint_id)) == replayed
    assert table_rows(any_store, "SELECT count(*) FROM pending WHERE event_id NOT IN (SELECT id FROM events)") == [(0,)]


def test_the_dead_list_pages_newest_event_first_with_the_replay_filters(
    any_store: Store, location: Location, history: History
) -> None:
    ok, down, ids = history
    Queue(any_store).enqueue("order.paid", {"n": 1})
    run(location, RunOptions(time_limit=5), clock=ManualClock(datetime.now(UTC)))
    everything = Selection(dead_only=True)
    first = any_store.dead_page(everything, limit=4)
    rest = any_store.dead_page(everything, before=(first[-1].event_id, first[-1].endpoint), limit=4)
    assert [letter.event_id for letter in first + rest] == [ids[-1] + 1, *reversed(ids)]
    assert [letter.event_id for letter in any_store.dead_page(Selection(event_type="lead.*"))] == ids[::-1]
    assert any_store.dead_page(Selection(endpoint_id=ok)) == []
    assert recovery.count_replayable(any_store, Selection(dead_only=True, event_type="order.*")) == 1
    with pytest.raises(DispatcherError, match="no endpoint 99"):
        any_store.dead_page(Selection(endpoint_id=99))


def test_replay_of_chosen_dead_deliveries_only_takes_dead_ones(any_store: Store, history: History) -> None:
    ok, down, ids = history
    # A delivered one, a dead one twice, and one that does not exist: only the dead one goes back.
    assert any_store.replay_dead([(ok, ids[0]), (down, ids[1]), (down, ids[1]), (down, 999)]) == 1
    assert pending_ids(any_store, down) == [ids[1]] and pending_ids(any_store, ok) == []
    assert [letter.event_id for letter in any_store.dead()] == [ids[0], *ids[2:]]


# --- prune -------------------------------------------------------------------------


def test_prune_keeps_what_is_younger_than_the_age(any_store: Store, clock: ManualClock, history: History) -> None:
    before = counts(any_store)
    assert recovery.prune(any_store, 3600, clock.now()) == recovery.prune(any_store, 3600, clock.now())
    assert counts(any_store) == before


def test_prune_removes_delivered_work_and_keeps_the_dead(
    any_store: Store, clock: ManualClock, history: History
) -> None:
    ok, down, ids = history
    clock.advance(3601)
    pruned = recovery.prune(any_store, 3600, clock.now())
    assert (pruned.batches, pruned.deliveries, pruned.attempts) == (3, 5, 3)
    assert pruned.events == 0  # every event is still needed by its dead delivery
    assert len(any_store.dead()) == 5 and any_store.status(clock.now())[0].delivered == 0
    pruned = recovery.prune(any_store, 3600, clock.now(), dead=True)
    assert (pruned.batches, pruned.deliveries, pruned.events) == (3, 5, 5)
    assert counts(any_store) == {"events": 0, "deliveries": 0, "batches": 0, "attempts": 0}


def test_prune_keeps_events_still_queued_for_another_endpoint(
    any_store: Store, location: Location, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoints.add(any_store, receiver.url_for("/ok"), allow_private=True)
    paused = endpoints.add(any_store, receiver.url_for("/paused"), allow_private=True)
    endpoints.disable(any_store, paused.id, clock.now())
    for n in range(3):
        Queue(any_store).enqueue("lead.created", {"n": n})
    run(location, RunOptions(time_limit=5), clock=clock)
    clock.advance(86400)
    pruned = recovery.prune(any_store, 60, clock.now())
    assert pruned.deliveries == 3 and pruned.events == 0
    assert any_store.status(clock.now())[1].pending == 3


def test_prune_removes_old_events_nobody_subscribed_to_and_old_test_attempts(
    any_store: Store, clock: ManualClock, receiver: HTTPServer
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoint_id = endpoints.add(any_store, receiver.url_for("/ok"), events=["only.this"], allow_private=True).id
    any_store.insert_events([("something.else", "{}", clock.now() - timedelta(days=300))] * 1000)
    any_store.insert_events([("something.else", "{}", clock.now())] * 200)
    ping.send_test(any_store, endpoint_id, clock)
    pruned = recovery.prune(any_store, 3600, clock.now() + timedelta(hours=2))
    assert (pruned.events, pruned.attempts) == (1000, 1)
    assert counts(any_store)["events"] == 200


def checked_through(store: Store) -> int:
    return int(table_rows(store, "SELECT events_checked_through FROM dispatcher_prune")[0][0])


def test_prune_goes_on_from_where_it_looked_last_for_events_nobody_needs(
    any_store: Store, clock: ManualClock, receiver: HTTPServer
) -> None:
    paused = endpoints.add(any_store, receiver.url_for("/paused"), events=["kept"])
    endpoints.disable(any_store, paused.id, clock.now())

    def queue(event_type: str, count: int) -> None:
        any_store.insert_events([(event_type, "{}", clock.now())] * count)

    queue("kept", 700)  # old, yet still queued for `paused`
    queue("unwanted", 300)
    clock.advance(2 * 86400)
    queue("unwanted", 1)

    assert recovery.prune(any_store, 3600, clock.now()).events == 300
    # The 700 still queued are not read again by the next prune: it starts after them.
    assert checked_through(any_store) == 1000
    assert recovery.prune(any_store, 3600, clock.now()).events == 0
    clock.advance(2 * 86400)
    assert recovery.prune(any_store, 3600, clock.now()).events == 1 and checked_through(any_store) == 1001

    # Deleting the endpoint leaves its 700 events unneeded: prune looks from the start again.
    any_store.delete_endpoint(paused.id)
    assert checked_through(any_store) == 0
    assert recovery.prune(any_store, 3600, clock.now()).events == 700
    assert counts(any_store)["events"] == 0


def test_prune_leaves_an_import_in_progress_alone(any_store: Store, clock: ManualClock, receiver: HTTPServer) -> None:
    endpoint_id = endpoints.add(any_store, receiver.url_for("/ok")).id
    # Staged by an import still reading its file: no endpoint has them yet.
    staged = any_store.stage_events([("lead.imported", "{}", clock.now())] * 3)

    assert recovery.prune(any_store, 0, clock.now() + timedelta(hours=1)).events == 0

    any_store.queue_staged([staged])
    assert pending_ids(any_store, endpoint_id) == [1, 2, 3]


def test_prune_with_a_time_budget_stops_and_the_next_one_goes_on(
    any_store: Store, clock: ManualClock, history: History
) -> None:
    clock.advance(3601)
    assert recovery.prune(any_store, 3600, clock.now(), budget=0).batches == 0
    assert recovery.prune(any_store, 3600, clock.now()).batches == 3
