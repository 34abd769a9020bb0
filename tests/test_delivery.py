"""The process loop against a real receiver on 127.0.0.1, with an injected clock where time matters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import NotFound
from dispatcher.producer import open as open_queue
from dispatcher.store import Store

from .helpers import SECRET
from .process_helpers import add_endpoint, answers, enqueue


def bodies(server: HTTPServer, path: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in server.log if path is None or request.path == path]


def event_ids(batch: dict[str, Any]) -> list[int]:
    return [event["id"] for event in batch["events"]]


def test_25_events_arrive_as_10_10_5_in_order(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    add_endpoint(store, receiver)
    ids = enqueue(db_path, 25)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")

    summary = run(db_path, RunOptions(time_limit=10))

    batches = bodies(receiver)
    assert [event_ids(batch) for batch in batches] == [ids[:10], ids[10:20], ids[20:]]
    assert len({batch["batch_id"] for batch in batches}) == 3
    assert (summary.requests, summary.delivered, summary.failures) == (3, 25, 0)


def test_desc_order_sends_newest_first(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    add_endpoint(store, receiver, order="desc")
    ids = enqueue(db_path, 25)
    receiver.expect_request("/hook").respond_with_data("ok")

    run(db_path, RunOptions(time_limit=10))

    newest_first = ids[::-1]
    assert [event_ids(b) for b in bodies(receiver)] == [newest_first[:10], newest_first[10:20], newest_first[20:]]


def test_body_and_signature_as_a_mautic_receiver_checks_them(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    add_endpoint(store, receiver)
    with open_queue(db_path) as queue:
        queue.enqueue("lead.created", '{ "email" : "a@example.com" }')
    receiver.expect_request("/hook").respond_with_data("ok")

    run(db_path, RunOptions(time_limit=10))

    ((request, _),) = receiver.log
    raw = request.get_data()
    expected = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    assert request.headers["Webhook-Signature"] == expected
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("dispatcher/")
    assert b'"data":{ "email" : "a@example.com" }' in raw  # the stored text, byte for byte
    (event,) = json.loads(raw)["events"]
    assert event["type"] == "lead.created"
    assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == len("2026-11-22T10:00:00.000Z")


def test_a_500_then_200_retries_the_same_batch_at_the_scheduled_time(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    ids = enqueue(db_path, 3)
    receiver.expect_request("/hook").respond_with_handler(answers(500))

    summary = run(db_path, RunOptions(time_limit=60), clock=clock)

    first, second = bodies(receiver)
    assert first == second  # the same events, the same batch id
    assert event_ids(first) == ids
    failed, retried = store.attempts(endpoint_id)
    assert (failed.status_code, failed.error, retried.status_code) == (500, "HTTP 500", 200)
    assert failed.batch_id == retried.batch_id == first["batch_id"]
    delay = (retried.started_at - failed.started_at).total_seconds()
    # 5 s plus at most 10 % jitter, sent within a fraction of a second of falling due.
    assert 5.0 <= delay <= 5.5 + 0.3
    assert (summary.requests, summary.failures, summary.retries, summary.delivered) == (2, 1, 1, 3)


def test_a_retry_is_signed_anew_but_keeps_its_delivery_id(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    # LeaseCloud counts only 200: a 201 is a failure, retried like any other.
    add_endpoint(store, receiver, format="raw", signature="timestamped", success="200")
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_handler(answers(201))

    summary = run(db_path, RunOptions(time_limit=60), clock=clock)

    (first, _), (second, _) = receiver.log
    assert (summary.requests, summary.failures, summary.delivered) == (2, 1, 1)
    assert first.get_data() == second.get_data() == b'{"n":0}'
    assert first.headers["X-Webhook-Delivery-Id"] == second.headers["X-Webhook-Delivery-Id"]
    # The signature's timestamp is the time of each request, so a receiver's
    # tolerance window never rejects a late retry.
    stamps = [int(request.headers["Webhook-Signature"].split(",")[0][2:]) for request in (first, second)]
    assert stamps[1] - stamps[0] >= 5


def test_deliveries_are_dead_after_max_attempts(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, max_attempts=3)
    enqueue(db_path, 4)
    receiver.expect_request("/hook").respond_with_data("down", status=503)

    summary = run(db_path, RunOptions(time_limit=3600), clock=clock)

    assert len(receiver.log) == 3
    (status,) = store.status(clock.now())
    assert (status.endpoint, status.dead, status.pending, status.delivered) == (endpoint_id, 4, 0, 0)
    assert summary.dead == 4
    # Dead deliveries stay visible and block nothing: new events still go out.
    receiver.clear()
    receiver.expect_request("/hook").respond_with_data("ok")
    enqueue(db_path, 2)
    run(db_path, RunOptions(time_limit=10), clock=clock)
    assert [len(b["events"]) for b in bodies(receiver)] == [2]


def test_a_failed_batch_blocks_its_endpoint_until_the_retry_which_goes_first(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    add_endpoint(store, receiver, batch_size=10)
    ids = enqueue(db_path, 25)
    receiver.expect_request("/hook").respond_with_handler(answers(500))

    run(db_path, RunOptions(time_limit=60), clock=clock)

    assert [event_ids(b) for b in bodies(receiver)] == [ids[:10], ids[:10], ids[10:20], ids[20:]]


def test_no_request_starts_after_the_time_limit(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    add_endpoint(store, receiver)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)
    started = clock.now()

    summary = run(db_path, RunOptions(time_limit=60), clock=clock)

    # Attempts at 0 s and ~5 s; the next falls ~5 min later, after the limit, so the run ends.
    assert summary.requests == 2
    assert clock.now() - started < timedelta(seconds=60)


def test_an_idle_run_exits_at_once(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    add_endpoint(store, receiver)
    began = time.monotonic()
    summary = run(db_path, RunOptions(time_limit=50))
    assert summary.requests == 0
    assert time.monotonic() - began < 2


def test_a_hanging_endpoint_does_not_delay_another(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(10)
        return Response("late")

    slow = add_endpoint(store, receiver, "/slow", timeout=1.5)
    add_endpoint(store, receiver, "/fast")
    enqueue(db_path, 30)
    receiver.expect_request("/slow").respond_with_handler(hang)
    receiver.expect_request("/fast").respond_with_data("ok")

    began = time.monotonic()
    fast_done: list[float] = []

    def watch() -> None:
        while len([r for r, _ in receiver.log if r.path == "/fast"]) < 3 and time.monotonic() - began < 10:
            time.sleep(0.01)
        fast_done.append(time.monotonic() - began)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        summary = run(db_path, RunOptions(time_limit=1, workers=2))
    finally:
        release.set()
        watcher.join()

    assert fast_done[0] < 1.0  # all three fast batches, while the slow one still hung
    assert summary.delivered == 30  # the fast endpoint's events
    (attempt,) = store.attempts(slow, status="failed")
    assert "timed out" in (attempt.error or "")


def test_disabled_endpoints_collect_and_send_once_enabled(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    endpoints.disable(store, endpoint_id, clock.now())
    ids = enqueue(db_path, 3)
    receiver.expect_request("/hook").respond_with_data("ok")

    run(db_path, RunOptions(time_limit=5))
    assert receiver.log == []
    assert store.status(clock.now())[0].pending == 3

    endpoints.enable(store, endpoint_id, clock.now())
    run(db_path, RunOptions(time_limit=5))
    assert [event_ids(b) for b in bodies(receiver)] == [ids]


def test_a_redirect_is_a_failure_and_is_not_followed(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": "/elsewhere"})
    receiver.expect_request("/elsewhere").respond_with_data("ok")

    run(db_path, RunOptions(time_limit=1), clock=clock)

    assert [request.path for request, _ in receiver.log] == ["/hook"]
    (attempt,) = store.attempts(endpoint_id, status="failed")
    assert attempt.status_code == 302 and "not followed" in (attempt.error or "")


def test_only_the_chosen_endpoint_is_served(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    add_endpoint(store, receiver, "/one")
    two = add_endpoint(store, receiver, "/two")
    enqueue(db_path, 2)
    receiver.expect_request("/one").respond_with_data("ok")
    receiver.expect_request("/two").respond_with_data("ok")

    run(db_path, RunOptions(time_limit=5, endpoint_id=two))

    assert [request.path for request, _ in receiver.log] == ["/two"]


def test_a_run_for_an_endpoint_that_does_not_exist_is_refused(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    add_endpoint(store, receiver)
    enqueue(db_path, 1)
    with pytest.raises(NotFound, match="^no endpoint 99$"):
        run(db_path, RunOptions(time_limit=5, endpoint_id=99))
    assert receiver.log == []


def test_a_run_on_a_file_that_does_not_exist_is_refused_and_makes_none(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="^no database at .*typo.db"):
        run(tmp_path / "typo.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 4])
def test_many_endpoints_each_get_every_event_once_in_order(
    db_path: Path, store: Store, receiver: HTTPServer, workers: int
) -> None:
    paths = [f"/e{n}" for n in range(6)]
    for path in paths:
        add_endpoint(store, receiver, path, batch_size=7)
        receiver.expect_request(path).respond_with_data("ok")
    ids = enqueue(db_path, 50)

    summary = run(db_path, RunOptions(time_limit=20, workers=workers))

    for path in paths:
        assert [i for batch in bodies(receiver, path) for i in event_ids(batch)] == ids
    assert summary.delivered == 50 * len(paths)


def test_with_more_endpoints_than_workers_a_waiting_one_gets_a_turn_before_the_others_are_done(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    paths = ["/a", "/b", "/c"]
    for path in paths:
        add_endpoint(store, receiver, path, batch_size=1)
        receiver.expect_request(path).respond_with_data("ok")
    enqueue(db_path, 150)  # each endpoint has well over a turn's worth of requests

    summary = run(db_path, RunOptions(time_limit=30, workers=2))

    order = [request.path for request, _ in receiver.log]
    last = {path: max(i for i, seen in enumerate(order) if seen == path) for path in paths}
    # Whichever endpoint found no worker at first was served long before the other two had drained.
    waited = max(paths, key=order.index)
    assert order.index(waited) < min(last[path] for path in paths if path != waited) - 50
    assert summary.delivered == 450


def test_an_event_inserted_with_the_sqlite3_shell_is_delivered(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    shell = shutil.which("sqlite3")
    if shell is None:
        pytest.skip("the sqlite3 shell is not installed")
    add_endpoint(store, receiver)
    receiver.expect_request("/hook").respond_with_data("ok")
    subprocess.run(
        [shell, str(db_path)],
        input=".timeout 5000\nINSERT INTO events (type, payload) VALUES ('lead.created', '{\"id\": 1}');\n",
        text=True,
        check=True,
    )

    run(db_path, RunOptions(time_limit=5))

    (batch,) = bodies(receiver)
    (event,) = batch["events"]
    assert (event["type"], event["data"]) == ("lead.created", {"id": 1})
    assert b'"data":{"id": 1}' in receiver.log[0][0].get_data()


def test_a_stop_lets_the_request_in_flight_finish_and_starts_no_other(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    add_endpoint(store, receiver)
    ids = enqueue(db_path, 25)
    stop = threading.Event()

    def stop_while_answering(request: Request) -> Response:
        stop.set()  # as Ctrl-C would, while this request is in flight
        return Response("ok")

    receiver.expect_request("/hook").respond_with_handler(stop_while_answering)

    stopped = run(db_path, RunOptions(time_limit=10), stop=stop)

    assert (stopped.requests, stopped.delivered, stopped.interrupted) == (1, 10, True)
    assert stopped.line().endswith(", interrupted")
    assert [event_ids(batch) for batch in bodies(receiver)] == [ids[:10]]
    # Its lease was released: held, it would keep the next run away for a minute.
    rest = run(db_path, RunOptions(time_limit=10))
    assert (rest.delivered, rest.interrupted) == (15, False)
    assert [event_ids(batch) for batch in bodies(receiver)] == [ids[:10], ids[10:20], ids[20:]]
