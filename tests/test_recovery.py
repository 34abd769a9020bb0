"""dispatcher.recovery on a real SQLite file: dead letters, replay, prune, and a file that stops growing."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints, ping, recovery
from dispatcher.clock import ManualClock, to_text
from dispatcher.config import defaults_from
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import DispatcherError
from dispatcher.models import Selection
from dispatcher.producer import Queue
from dispatcher.store import Store

from .process_helpers import enqueue


@pytest.fixture
def history(db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock) -> tuple[int, int, list[int]]:
    """Endpoint `ok` got every event; endpoint `down` let them all die. Returns (ok, down, event ids)."""
    receiver.expect_request("/ok").respond_with_data("fine")
    receiver.expect_request("/down").respond_with_data("broken", status=500)
    ok = endpoints.add(store, receiver.url_for("/ok"), batch_size=2).id
    down = endpoints.add(store, receiver.url_for("/down"), batch_size=2, max_attempts=1, disable_after=0).id
    ids = enqueue(db_path, 5)
    run(db_path, RunOptions(time_limit=5), clock=clock)
    return ok, down, ids


def pending_ids(store: Store, endpoint_id: int) -> list[int]:
    rows = store.conn.execute("SELECT event_id FROM pending WHERE endpoint_id = ? ORDER BY event_id", (endpoint_id,))
    return [row[0] for row in rows]


def test_dead_lists_one_record_per_dead_delivery(store: Store, history: tuple[int, int, list[int]]) -> None:
    ok, down, ids = history
    dead = store.dead()
    assert [(letter.endpoint, letter.event_id) for letter in dead] == [(down, event_id) for event_id in ids]
    assert {(letter.type, letter.attempts, letter.last_error) for letter in dead} == {("lead.created", 1, "HTTP 500")}
    assert store.dead(ok) == []


def test_replay_puts_dead_deliveries_back_as_fresh_work(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    selection = Selection(endpoint_id=down, dead_only=True)
    assert recovery.count_replayable(store, selection) == 5
    assert recovery.replay(store, selection) == 5
    assert store.dead() == [] and pending_ids(store, down) == ids
    failed_before = len(store.attempts(down))
    # The receiver is fixed; the replayed events go out, starting again from attempt 1.
    receiver.clear()
    receiver.expect_request("/down").respond_with_data("fixed")
    run(db_path, RunOptions(time_limit=5), clock=clock)
    assert store.status(clock.now())[1].delivered == 5
    assert len(store.attempts(down)) == failed_before + 3  # history kept: the old attempts are still there


def test_replay_of_delivered_events_by_event_and_time(
    store: Store, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    assert recovery.replay(store, Selection(event_id=ids[0], endpoint_id=ok)) == 1
    assert pending_ids(store, ok) == [ids[0]]
    later = to_text(datetime.now(UTC) + timedelta(days=1))  # producers' rows carry SQLite's own time
    assert recovery.count_replayable(store, Selection(since=later)) == 0
    assert recovery.count_replayable(store, Selection(until=later)) == 9  # 4 delivered to ok, 5 dead


def test_replay_never_duplicates_queued_or_in_flight_deliveries(
    db_path: Path, store: Store, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    recovery.replay(store, Selection(endpoint_id=ok))
    assert pending_ids(store, ok) == ids
    # Replaying the same events again finds nothing to do: they are already queued.
    assert recovery.replay(store, Selection(endpoint_id=ok)) == 0
    # A batch in flight (claimed, not yet answered) is not replayable either.
    claim = store.claim_batch(ok, "lease", clock.now(), defaults_from(store.config()))
    assert claim is not None
    assert recovery.count_replayable(store, Selection(event_id=claim[2].events[0].id, endpoint_id=ok)) == 0


def test_replay_without_a_filter_is_refused(store: Store) -> None:
    with pytest.raises(DispatcherError, match="needs a filter"):
        recovery.replay(store, Selection())


def test_replay_reports_progress_in_chunks(store: Store, db_path: Path, receiver: HTTPServer) -> None:
    endpoint_id = endpoints.add(store, receiver.url_for("/ok")).id
    Queue(store).enqueue_many("t", [{"n": n} for n in range(1200)])
    # Each delivered in a batch of its own.
    store.conn.execute(
        "INSERT INTO batches (id, endpoint_id, event_ids, state, due_at, created_at, finished_at) "
        "SELECT printf('b-%06d', event_id), endpoint_id, json_array(event_id), 'delivered', 'x', 'x', "
        "'2026-11-22T10:00:00.000Z' FROM pending"
    )
    store.conn.execute("INSERT INTO deliveries SELECT endpoint_id, event_id, printf('b-%06d', event_id) FROM pending")
    store.conn.execute("DELETE FROM pending")
    store.conn.commit()
    steps: list[int] = []
    assert recovery.replay(store, Selection(endpoint_id=endpoint_id), steps.append) == 1200
    assert steps == [500, 500, 200]


@pytest.mark.parametrize(
    "text", ["2h", "90m", "2026-11-22T08:00:00Z", "2026-11-22T08:00:00", "2026-11-22T09:00:00+01:00"]
)
def test_times_are_iso_8601_or_a_duration_ago(text: str, clock: ManualClock) -> None:
    assert to_text(recovery.parse_time(text, clock.now())) in ("2026-11-22T08:00:00.000Z", "2026-11-22T08:30:00.000Z")


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01", "5x"])
def test_bad_times_are_refused(text: str, clock: ManualClock) -> None:
    with pytest.raises(DispatcherError, match="invalid time"):
        recovery.parse_time(text, clock.now())


# --- prune -------------------------------------------------------------------------


def counts(store: Store) -> dict[str, int]:
    return {
        table: store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("events", "deliveries", "batches", "attempts")
    }


def test_prune_keeps_what_is_younger_than_the_age(
    store: Store, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    before = counts(store)
    assert recovery.prune(store, 3600, clock.now()) == recovery.prune(store, 3600, clock.now())
    assert counts(store) == before


def test_prune_removes_delivered_work_and_keeps_the_dead(
    store: Store, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    clock.advance(3601)
    pruned = recovery.prune(store, 3600, clock.now())
    assert (pruned.batches, pruned.deliveries, pruned.attempts) == (3, 5, 3)
    assert pruned.events == 0  # every event is still needed by its dead delivery
    assert len(store.dead()) == 5 and store.status(clock.now())[0].delivered == 0
    pruned = recovery.prune(store, 3600, clock.now(), dead=True)
    assert (pruned.batches, pruned.deliveries, pruned.events) == (3, 5, 5)
    assert counts(store) == {"events": 0, "deliveries": 0, "batches": 0, "attempts": 0}


def test_prune_keeps_events_still_queued_for_another_endpoint(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoints.add(store, receiver.url_for("/ok"))
    paused = endpoints.add(store, receiver.url_for("/paused"))
    endpoints.disable(store, paused.id, clock.now())
    enqueue(db_path, 3)
    run(db_path, RunOptions(time_limit=5), clock=clock)
    clock.advance(86400)
    pruned = recovery.prune(store, 60, clock.now())
    assert pruned.deliveries == 3 and pruned.events == 0
    assert store.status(clock.now())[1].pending == 3


def test_prune_removes_old_events_nobody_subscribed_to_and_old_test_attempts(
    store: Store, clock: ManualClock, receiver: HTTPServer
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoint_id = endpoints.add(store, receiver.url_for("/ok"), events=["only.this"]).id
    Queue(store).enqueue_many("something.else", [{"n": n} for n in range(1200)])
    ping.send_test(store, endpoint_id, clock)
    store.conn.execute("UPDATE events SET created_at = '2026-01-01T00:00:00.000Z' WHERE id <= 1000")
    store.conn.commit()
    pruned = recovery.prune(store, 3600, clock.now() + timedelta(hours=2))
    assert (pruned.events, pruned.attempts) == (1000, 1)
    assert counts(store)["events"] == 200


def checked_through(store: Store) -> int:
    return int(store.conn.execute("SELECT events_checked_through FROM dispatcher_prune").fetchone()[0])


def test_prune_goes_on_from_where_it_looked_last_for_events_nobody_needs(
    store: Store, clock: ManualClock, receiver: HTTPServer
) -> None:
    paused = endpoints.add(store, receiver.url_for("/paused"), events=["kept"])
    endpoints.disable(store, paused.id, clock.now())

    def queue(event_type: str, count: int) -> None:
        store.insert_events([(event_type, "{}", clock.now())] * count)

    queue("kept", 700)  # old, yet still queued for `paused`
    queue("unwanted", 300)
    clock.advance(2 * 86400)
    queue("unwanted", 1)

    assert recovery.prune(store, 3600, clock.now()).events == 300
    # The 700 still queued are not read again by the next prune: it starts after them.
    assert checked_through(store) == 1000
    assert recovery.prune(store, 3600, clock.now()).events == 0
    clock.advance(2 * 86400)
    assert recovery.prune(store, 3600, clock.now()).events == 1 and checked_through(store) == 1001

    # Deleting the endpoint leaves its 700 events unneeded: prune looks from the start again.
    store.delete_endpoint(paused.id)
    assert checked_through(store) == 0
    assert recovery.prune(store, 3600, clock.now()).events == 700
    assert counts(store)["events"] == 0


def test_prune_leaves_an_import_in_progress_alone(store: Store, clock: ManualClock, receiver: HTTPServer) -> None:
    endpoint_id = endpoints.add(store, receiver.url_for("/ok")).id
    # Staged by an import still reading its file: no endpoint has them yet.
    staged = store.stage_events([("lead.imported", "{}", clock.now())] * 3)

    assert recovery.prune(store, 0, clock.now() + timedelta(hours=1)).events == 0

    store.queue_staged([staged])
    assert pending_ids(store, endpoint_id) == [1, 2, 3]


def test_prune_with_a_time_budget_stops_and_the_next_one_goes_on(
    store: Store, clock: ManualClock, history: tuple[int, int, list[int]]
) -> None:
    clock.advance(3601)
    assert recovery.prune(store, 3600, clock.now(), budget=0).batches == 0
    assert recovery.prune(store, 3600, clock.now()).batches == 3


def test_the_file_stops_growing_under_steady_load(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoints.add(store, receiver.url_for("/ok"), batch_size=100)
    sizes = []
    for _ in range(8):
        enqueue(db_path, 1000)
        run(db_path, RunOptions(time_limit=30), clock=clock)
        clock.advance(120)
        recovery.prune(store, 60, clock.now())
        sizes.append(os.path.getsize(db_path) + os.path.getsize(f"{db_path}-wal"))
    assert store.status(clock.now())[0].delivered == 0
    # Freed pages are reused: after the first rounds the file holds steady.
    assert max(sizes[3:]) <= sizes[2] * 1.1, sizes


def test_the_dead_list_pages_newest_event_first_with_the_replay_filters(
    db_path: Path, store: Store, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    Queue(store).enqueue("order.paid", {"n": 1})
    run(db_path, RunOptions(time_limit=5), clock=ManualClock(datetime.now(UTC)))
    everything = Selection(dead_only=True)
    first = store.dead_page(everything, limit=4)
    rest = store.dead_page(everything, before=(first[-1].event_id, first[-1].endpoint), limit=4)
    assert [letter.event_id for letter in first + rest] == [ids[-1] + 1, *reversed(ids)]
    assert [letter.event_id for letter in store.dead_page(Selection(event_type="lead.*"))] == ids[::-1]
    assert store.dead_page(Selection(endpoint_id=ok)) == []
    assert recovery.count_replayable(store, Selection(dead_only=True, event_type="order.*")) == 1
    with pytest.raises(DispatcherError, match="no endpoint 99"):
        store.dead_page(Selection(endpoint_id=99))


def test_replay_of_chosen_dead_deliveries_only_takes_dead_ones(
    store: Store, history: tuple[int, int, list[int]]
) -> None:
    ok, down, ids = history
    # A delivered one, a dead one twice, and one that does not exist: only the dead one goes back.
    assert store.replay_dead([(ok, ids[0]), (down, ids[1]), (down, ids[1]), (down, 999)]) == 1
    assert pending_ids(store, down) == [ids[1]] and pending_ids(store, ok) == []
    assert [letter.event_id for letter in store.dead()] == [ids[0], *ids[2:]]
