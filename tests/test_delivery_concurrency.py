"""The process loop with endpoints that have several batches in flight: how a run shares its
workers between them, and a run split over processes (`RunOptions.processes`)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher.clock import SystemClock
from dispatcher.delivery import RunOptions, run, workers_of
from dispatcher.errors import DispatcherError
from dispatcher.store import Store

from .process_helpers import add_endpoint, enqueue


class InFlight:
    """A handler that answers after ``delay`` and counts, per path, the requests in flight at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.most_paths = 0  # the most paths with a request in flight at the same moment
        self.arrivals: list[str] = []
        self.ids: list[int] = []

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.now[request.path] += 1
            self.most[request.path] = max(self.most[request.path], self.now[request.path])
            self.most_paths = max(self.most_paths, sum(1 for count in self.now.values() if count))
            self.arrivals.append(request.path)
            self.ids.extend(event["id"] for event in json.loads(request.get_data())["events"])
        time.sleep(self.delay)
        with self.lock:
            self.now[request.path] -= 1
        return Response("ok")


def test_a_run_has_an_endpoint_s_concurrency_in_flight_and_every_event_once(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    handler = InFlight(0.05)
    receiver.expect_request("/hook").respond_with_handler(handler)
    add_endpoint(store, receiver, concurrency=4, batch_size=5)
    ids = enqueue(db_path, 200)

    summary = run(db_path, RunOptions(time_limit=30, workers=8))

    assert handler.most["/hook"] == 4
    assert sorted(handler.ids) == ids
    assert (summary.delivered, summary.requests, summary.errors) == (200, 40, [])


def test_no_more_requests_are_in_flight_than_workers(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    handler = InFlight(0.05)
    receiver.expect_request("/hook").respond_with_handler(handler)
    add_endpoint(store, receiver, concurrency=16, batch_size=5)
    enqueue(db_path, 100)

    run(db_path, RunOptions(time_limit=30, workers=3))

    assert handler.most["/hook"] == 3


def test_an_endpoint_with_a_high_concurrency_leaves_workers_for_the_others(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    handler = InFlight(0.05)
    for path in ("/wide", "/a", "/b"):
        receiver.expect_request(path).respond_with_handler(handler)
    add_endpoint(store, receiver, "/wide", concurrency=16, batch_size=1)
    add_endpoint(store, receiver, "/a", batch_size=1)
    add_endpoint(store, receiver, "/b", batch_size=1)
    enqueue(db_path, 30)

    summary = run(db_path, RunOptions(time_limit=30, workers=4))

    # One worker each (all three in flight at once); the wide endpoint gets what is left, never
    # the others' share. (Not the order of the first arrivals: a busy machine may swap them.)
    assert handler.most_paths == 3
    assert (handler.most["/wide"], handler.most["/a"], handler.most["/b"]) == (2, 1, 1)
    assert summary.delivered == 90


@pytest.mark.slow
def test_a_run_in_two_processes_shares_the_places_in_flight_and_adds_up_one_summary(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    handler = InFlight(0.05)
    receiver.expect_request("/hook").respond_with_handler(handler)
    add_endpoint(store, receiver, concurrency=4, batch_size=5)
    ids = enqueue(db_path, 300)

    summary = run(db_path, RunOptions(time_limit=30, workers=6, processes=2))

    assert handler.most["/hook"] == 4
    assert sorted(handler.ids) == ids
    assert (summary.delivered, summary.requests, summary.errors, summary.interrupted) == (300, 60, [], False)


@pytest.mark.slow
def test_a_stop_reaches_the_other_processes(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    stop = threading.Event()
    handler = InFlight(0.05)

    def stop_on_the_tenth(request: Request) -> Response:
        if len(handler.arrivals) == 10:
            stop.set()
        return handler(request)

    receiver.expect_request("/hook").respond_with_handler(stop_on_the_tenth)
    add_endpoint(store, receiver, concurrency=4, batch_size=1)
    enqueue(db_path, 2000)

    summary = run(db_path, RunOptions(time_limit=60, workers=4, processes=2), stop=stop)

    assert summary.interrupted and summary.errors == []
    assert summary.delivered == summary.requests == len(handler.arrivals) < 200
    (status,) = store.status(SystemClock().now())
    assert (status.delivered, status.in_flight) == (summary.delivered, 0)


def test_the_workers_are_split_between_the_processes() -> None:
    assert workers_of(RunOptions(workers=8, processes=3)) == [3, 3, 2]
    assert workers_of(RunOptions(workers=4)) == [4]


@pytest.mark.parametrize("processes", [0, 5])
def test_processes_must_each_have_a_worker(db_path: Path, store: Store, processes: int) -> None:
    with pytest.raises(DispatcherError, match="each process needs a worker at least"):
        run(db_path, RunOptions(workers=4, processes=processes))
