"""Real `dispatcher process` processes: overlapping cron runs and a run killed mid-request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.clock import ManualClock, SystemClock
from dispatcher.process import RunOptions, run
from dispatcher.queue import open as open_queue
from dispatcher.store import Store, lease_seconds

from .conftest import SECRET, dispatcher_command


def start_process(db_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*dispatcher_command(), "--db", str(db_path), "process", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def received_ids(server: HTTPServer, path: str) -> list[int]:
    return [
        event["id"]
        for request, _ in server.log
        if request.path == path
        for event in json.loads(request.get_data())["events"]
    ]


def test_two_overlapping_runs_deliver_every_event_once_in_order(
    db_path: Path, store: Store, receiver: HTTPServer
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.15)
        return Response("ok")

    paths = [f"/e{n}" for n in range(4)]
    for path in paths:
        endpoints.add(store, receiver.url_for(path), secret=SECRET, batch_size=5)
        receiver.expect_request(path).respond_with_handler(slow)
    with open_queue(db_path) as queue:
        ids = [queue.enqueue("lead.created", {"n": n}) for n in range(40)]

    runs = [start_process(db_path, "--time-limit", "30s", "--workers", "2") for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in runs]

    assert [process.returncode for process in runs] == [0, 0], outputs
    for path in paths:
        assert received_ids(receiver, path) == ids  # each once, in order
    # Both runs did work: the endpoints were shared out, not served twice.
    requests_per_run = [int(out.split(" requests")[0]) for out, _ in outputs]
    assert sum(requests_per_run) == len(paths) * 8
    assert all(count > 0 for count in requests_per_run)


def test_a_run_killed_mid_request_loses_nothing(db_path: Path, store: Store, receiver: HTTPServer) -> None:
    arrived = threading.Event()
    bodies: list[dict] = []  # as they arrive: the log only has requests that were answered

    def first_hangs(request: Request) -> Response:
        bodies.append(json.loads(request.get_data()))
        if not arrived.is_set():
            arrived.set()
            time.sleep(5)
        return Response("ok")

    endpoint_id = endpoints.add(store, receiver.url_for("/hook"), secret=SECRET, timeout=2.0).id
    with open_queue(db_path) as queue:
        ids = [queue.enqueue("lead.created", {"n": n}) for n in range(15)]
    receiver.expect_request("/hook").respond_with_handler(first_hangs)

    victim = start_process(db_path, "--time-limit", "30s")
    assert arrived.wait(20), "the first request never arrived"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)

    # The killed run still holds the lease: a run now leaves the endpoint alone.
    (before,) = store.status(SystemClock().now())
    assert (before.in_flight, before.pending, before.delivered) == (10, 5, 0)
    assert run(db_path, RunOptions(time_limit=1)).requests == 0

    # Once the lease (timeout + margin) has expired, a later run resends that batch and the rest.
    later = ManualClock(SystemClock().now() + timedelta(seconds=lease_seconds(2.0) + 1))
    summary = run(db_path, RunOptions(time_limit=10), clock=later)

    assert summary.delivered == 15
    first_batch, resent, second = bodies
    assert resent == first_batch  # the same batch id and events, sent again (at least once)
    assert [e["id"] for e in resent["events"]] + [e["id"] for e in second["events"]] == ids
    (after,) = store.status(later.now())
    assert (after.pending, after.in_flight, after.delivered) == (0, 0, 15)
    assert endpoint_id == after.endpoint
