"""The store's event view and the attempt log's pages, after real deliveries to a real receiver."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import NotFound
from dispatcher.producer import Queue
from dispatcher.store import Store


def test_an_event_shows_where_it_stands_with_each_endpoint(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    receiver.expect_request("/down").respond_with_data("broken", status=503)
    ok = endpoints.add(store, receiver.url_for("/ok")).id
    down = endpoints.add(store, receiver.url_for("/down"), max_attempts=1, disable_after=0).id
    endpoints.add(store, receiver.url_for("/other"), events=("other.*",))
    delivered_one = Queue(store).enqueue("lead.created", '{"a":  1}')
    run(db_path, RunOptions(time_limit=5), clock=clock)
    waiting = Queue(store).enqueue("lead.created", "[]")

    view = store.event_view(delivered_one)
    assert (view.event.type, view.event.payload) == ("lead.created", '{"a":  1}')
    assert [(item.endpoint, item.state) for item in view.deliveries] == [(ok, "delivered"), (down, "dead")]
    (sent,) = view.deliveries[0].attempts
    (refused,) = view.deliveries[1].attempts
    assert (sent.ok, sent.status_code, sent.batch_id) == (True, 200, view.deliveries[0].batch_id)
    assert (refused.ok, refused.status_code, refused.error) == (False, 503, "HTTP 503")
    assert [(item.state, item.batch_id, item.attempts) for item in store.event_view(waiting).deliveries] == [
        ("pending", None, ()),
        ("pending", None, ()),
    ]
    with pytest.raises(NotFound, match="no event 99"):
        store.event_view(99)


def test_the_attempt_log_pages_newest_first_under_its_filters(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/hook").respond_with_data("fine")
    hook = endpoints.add(store, receiver.url_for("/hook"), batch_size=1).id
    ids = [Queue(store).enqueue("a", [n]) for n in range(7)]
    run(db_path, RunOptions(time_limit=5), clock=clock)

    pages, before = [], None
    while True:
        found = store.attempts_page(endpoint_id=hook, status="ok", before=before, limit=3)
        if not found:
            break
        pages.append([attempt.event_ids[0] for attempt in found])
        before = found[-1].id
    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[:1]]
    assert [a.event_ids for a in store.attempts_page(event_id=ids[2])] == [(ids[2],)]
    assert store.attempts_page(status="failed") == [] and store.attempts_page(status=500) == []
    # The CLI's view is the same log: the newest N, oldest first.
    assert [a.id for a in store.attempts(limit=3)] == [a.id for a in store.attempts_page(limit=3)][::-1]
