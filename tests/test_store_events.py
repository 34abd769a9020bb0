"""The store's event view and the attempt log's pages, after real deliveries to a real receiver, on every backend."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import NotFound
from dispatcher.producer import Queue
from dispatcher.store import Location, Store

from .helpers import table_rows


def test_an_event_shows_where_it_stands_with_each_endpoint(
    location: Location, any_store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    any_store.set_config("allow_private", "true")  # the receiver is on 127.0.0.1
    receiver.expect_request("/ok").respond_with_data("fine")
    receiver.expect_request("/down").respond_with_data("broken", status=503)
    ok = endpoints.add(any_store, receiver.url_for("/ok")).id
    down = endpoints.add(any_store, receiver.url_for("/down"), max_attempts=1, disable_after=0).id
    endpoints.add(any_store, receiver.url_for("/other"), events=("other.*",))
    delivered_one = Queue(any_store).enqueue("lead.created", '{"a":  1}')
    run(location, RunOptions(time_limit=5), clock=clock)
    waiting = Queue(any_store).enqueue("lead.created", "[]")

    view = any_store.event_view(delivered_one)
    assert (view.event.type, view.event.payload) == ("lead.created", '{"a":  1}')
    assert [(item.endpoint, item.state) for item in view.deliveries] == [(ok, "delivered"), (down, "dead")]
    (sent,) = view.deliveries[0].attempts
    (refused,) = view.deliveries[1].attempts
    assert (sent.ok, sent.status_code, sent.batch_id) == (True, 200, view.deliveries[0].batch_id)
    assert (refused.ok, refused.status_code, refused.error) == (False, 503, "HTTP 503")
    assert [(item.state, item.batch_id, item.attempts) for item in any_store.event_view(waiting).deliveries] == [
        ("pending", None, ()),
        ("pending", None, ()),
    ]
    with pytest.raises(NotFound, match="no event 99"):
        any_store.event_view(99)


def test_the_attempt_log_pages_newest_first_under_its_filters(
    location: Location, any_store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    any_store.set_config("allow_private", "true")  # the receiver is on 127.0.0.1
    receiver.expect_request("/hook").respond_with_data("fine")
    hook = endpoints.add(any_store, receiver.url_for("/hook"), batch_size=1).id
    ids = [Queue(any_store).enqueue("a", [n]) for n in range(7)]
    run(location, RunOptions(time_limit=5), clock=clock)

    pages, before = [], None
    while True:
        found = any_store.attempts_page(endpoint_id=hook, status="ok", before=before, limit=3)
        if not found:
            break
        pages.append([attempt.event_ids[0] for attempt in found])
        before = found[-1].id
    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[:1]]
    assert [a.event_ids for a in any_store.attempts_page(event_id=ids[2])] == [(ids[2],)]
    assert any_store.attempts_page(status="failed") == [] and any_store.attempts_page(status=500) == []
    # The CLI's view is the same log: the newest N, oldest first.
    assert [a.id for a in any_store.attempts(limit=3)] == [a.id for a in any_store.attempts_page(limit=3)][::-1]


def test_a_waiting_event_shows_each_subscribed_endpoint_in_id_order(any_store: Store) -> None:
    def add(pattern: str) -> int:
        return any_store.insert_endpoint({"url": "https://example.com/hook", "secret": "s", "events": [pattern]})

    second, first, other = add("lead.*"), add("*"), add("order.*")
    event_id = any_store.insert_event("lead.created", '{"b": 1,  "a": 2}')
    view = any_store.event_view(event_id)
    assert (view.event.id, view.event.type, view.event.payload) == (event_id, "lead.created", '{"b": 1,  "a": 2}')
    assert view.event.created_at.tzinfo is not None
    assert [(item.endpoint, item.state, item.batch_id) for item in view.deliveries] == [
        (second, "pending", None),
        (first, "pending", None),
    ]
    assert other not in [item.endpoint for item in view.deliveries]
    staged = any_store.stage_events([("lead.created", "[]", view.event.created_at)])
    (staged_id,) = [event_id for (event_id,) in table_rows(any_store, "SELECT max(id) FROM events")]
    assert any_store.event_view(staged_id).deliveries == ()  # staged: no endpoint has it yet
    any_store.queue_staged([staged])
    assert len(any_store.event_view(staged_id).deliveries) == 2
