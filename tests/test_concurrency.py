"""Real `dispatcher process` processes: overlapping cron runs, a run killed mid-request, and runs
draining while eight producer processes insert."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.clock import ManualClock, SystemClock
from dispatcher.delivery import RunOptions, run
from dispatcher.delivery_rules import lease_seconds
from dispatcher.producer import open as open_queue
from dispatcher.store import Store

from . import workload
from .helpers import SECRET


def received_ids(server: HTTPServer, path: str) -> list[int]:
    return [
        event["id"]
        for request, _ in server.log
        if request.path == path
        for event in json.loads(request.get_data())["events"]
    ]


@pytest.mark.slow
def test_two_overlapping_runs_deliver_every_event_once_in_order(
    db_path: Path, store: Store, receiver: HTTPServer, start_process: Callable[..., subprocess.Popen[str]]
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

    runs = [start_process("--time-limit", "30s", "--workers", "2") for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in runs]

    assert [process.returncode for process in runs] == [0, 0], outputs
    for path in paths:
        assert received_ids(receiver, path) == ids  # each once, in order
    # Both runs did work: the endpoints were shared out, not served twice.
    requests_per_run = [int(out.split(" requests")[0]) for out, _ in outputs]
    assert sum(requests_per_run) == len(paths) * 8
    assert all(count > 0 for count in requests_per_run)


def test_a_run_killed_mid_request_loses_nothing(
    db_path: Path, store: Store, receiver: HTTPServer, start_process: Callable[..., subprocess.Popen[str]]
) -> None:
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

    victim = start_process("--time-limit", "30s")
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


# Eight producers: one row per transaction in each of the README's ways, and bulk.
PRODUCER_KINDS = ("enqueue", "enqueue", "connect", "connect", "stdlib", "bulk", "bulk", "bulk")
SINGLE_ROW_EVENTS = 1_000  # per producer inserting one row per transaction
BULK_EVENTS, BULK_CHUNK = 2_500, 250  # per bulk producer: enqueue_many calls of BULK_CHUNK events
# Short runs, so that endpoints change hands between the overlapping runs again and again.
RUN_LIMIT_S = 1.0


class _Recording(ThreadingHTTPServer):
    """A receiver light enough that the dispatcher, not the receiver, sets the pace: it answers every
    POST with 200 and keeps its path and body, in order of arrival. (pytest-httpserver's took 4.3 ms
    a request here, this one 2.1.)"""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.received: list[tuple[str, bytes]] = []

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{path}"


class _Recorder(BaseHTTPRequestHandler):
    server: _Recording
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
    # Headers and body in one send: in two, Nagle's algorithm and the client's delayed ACK cost 40 ms.
    wbufsize = 64 * 1024

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass  # thousands of requests: keep the test's output for the figures


@pytest.fixture
def fast_receiver() -> Iterator[_Recording]:
    server = _Recording()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _events_of(kind: str) -> int:
    return BULK_EVENTS if kind == "bulk" else SINGLE_ROW_EVENTS


def _delivered(run: subprocess.CompletedProcess[str]) -> int:
    """The events a `process` run delivered, from the line it prints."""
    found = re.search(r"(\d+) events? delivered", run.stdout)
    assert found, run.stdout
    return int(found[1])


def _lock_figures(writes: list[list[Any]]) -> str:
    """How long ``writes`` (as WriteLockTimes records them) held the write lock: the longest and the
    99th percentile of those timed exactly, and the bounds of those whose COMMIT also checkpointed."""
    exact = [write[0] for write in writes if not write[5]]
    checkpointing = [write for write in writes if write[5]]
    figures = "no transaction timed exactly"
    if exact:
        longest = max(write for write in writes if not write[5])
        p99 = statistics.quantiles(exact, n=100, method="inclusive")[98] if len(exact) > 1 else exact[0]
        figures = (
            f"max {longest[0]:.1f} ms, p99 {p99:.1f} ms over {len(exact)} transactions (the longest: "
            f"{longest[3]}; the longest wait for the lock {max(write[2] for write in writes):.0f} ms)"
        )
    if checkpointing:
        figures += (
            f", and {len(checkpointing)} whose COMMIT also ran the WAL autocheckpoint, after releasing the lock: "
            f"at most {max(write[0] - write[1] for write in checkpointing):.1f} ms before COMMIT, "
            f"{max(write[0] for write in checkpointing):.1f} ms with it"
        )
    return figures


@pytest.mark.slow
def test_eight_producers_while_process_drains_lose_nothing_and_deliver_each_event_once(
    db_path: Path, store: Store, fast_receiver: _Recording, tmp_path: Path
) -> None:
    def timed_cli(writes: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`dispatcher ARGS` as cron runs it, its write transactions timed into ``writes``."""
        return subprocess.run(
            [sys.executable, "-m", "tests.workload", str(writes), "--db", str(db_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parents[1],  # where `tests` is a package
        )

    store.set_config("allow_private", "true")
    paths = {"/a": 10, "/b": 100}  # batch sizes: the default, and large batches' longer transactions
    for path, batch_size in paths.items():
        endpoints.add(store, fast_receiver.url(path), secret=SECRET, batch_size=batch_size)

    # Spawned, not forked: each child starts afresh, as an application's process does, with no
    # SQLite handle or lock inherited from this one.
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(len(PRODUCER_KINDS) + 2)  # the producers, the timed runs and this test
    producing_done = spawn.Event()
    reports = [tmp_path / f"producer{producer}.json" for producer in range(len(PRODUCER_KINDS))]
    producers = [
        spawn.Process(
            target=workload.produce,
            args=(str(db_path), kind, producer, _events_of(kind), BULK_CHUNK, ready, str(reports[producer])),
        )
        for producer, kind in enumerate(PRODUCER_KINDS)
    ]
    # `process` runs, timing their write transactions, one after another while the producers insert.
    timed_report = tmp_path / "timed.json"
    timed = spawn.Process(
        target=workload.drain_timed, args=(str(db_path), RUN_LIMIT_S, ready, producing_done, str(timed_report))
    )
    # And overlapping them, cron's `dispatcher process`: the CLI, its write transactions timed too
    # (see workload.main), so that every write transaction of every run is in the figures.
    cron_runs: list[subprocess.CompletedProcess[str]] = []
    cron_writes = tmp_path / "cron"
    cron_writes.mkdir()

    def cron() -> None:
        while not producing_done.is_set():
            writes = cron_writes / f"{len(cron_runs)}.json"
            cron_runs.append(timed_cli(writes, "process", "--time-limit", f"{RUN_LIMIT_S}s"))
            producing_done.wait(workload.RUN_GAP_S)

    cron_thread = threading.Thread(target=cron)
    try:
        for child in [*producers, timed]:
            child.start()
        with contextlib.suppress(threading.BrokenBarrierError):  # a child failed to start: it says why
            ready.wait(workload.READY_TIMEOUT_S)
        started = time.monotonic()
        cron_thread.start()
        for child in producers:
            child.join(60)
        producing_done.set()
        cron_thread.join(60)
        timed.join(60)
        assert not any(child.is_alive() for child in [*producers, timed]), "a child is still running after 60 s"
    finally:  # never leave a child behind, whatever failed
        producing_done.set()
        for child in [*producers, timed]:
            if child.is_alive():
                child.kill()
    last_writes = tmp_path / "last.json"
    last = timed_cli(last_writes, "process", "--time-limit", "30s")  # delivers the rest
    drained_s = time.monotonic() - started

    produced = [json.loads(report.read_text()) for report in reports]
    timing = json.loads(timed_report.read_text())
    errors = [error for report in produced for error in report["errors"]] + timing["errors"]
    errors += [run.stderr for run in [*cron_runs, last] if run.returncode != 0 or run.stderr]
    assert errors == [], "\n".join(errors)  # above all, no "database is locked"
    assert [child.exitcode for child in [*producers, timed]] == [0] * (len(producers) + 1)

    # No event lost, none stored twice: each committed insert is one row, and each producer's are all there.
    assert [report["committed"] for report in produced] == [_events_of(kind) for kind in PRODUCER_KINDS]
    stored = {
        (data["producer"], data["n"]): event_id
        for event_id, payload in store.conn.execute("SELECT id, payload FROM events")
        for data in [json.loads(payload)]
    }
    assert len(stored) == store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert set(stored) == {
        (producer, n) for producer, kind in enumerate(PRODUCER_KINDS) for n in range(_events_of(kind))
    }
    for producer, report in enumerate(produced):
        if report["kind"] != "bulk":  # the id each insert returned is the stored event's
            assert report["ids"] == [stored[producer, n] for n in range(len(report["ids"]))]

    # Each endpoint received every event exactly once, in id order, with its own payload.
    expected = sorted((event_id, {"producer": producer, "n": n}) for (producer, n), event_id in stored.items())
    for path in paths:
        received = [
            (event["id"], event["data"])
            for request_path, body in fast_receiver.received
            if request_path == path
            for event in json.loads(body)["events"]
        ]
        ids = [event_id for event_id, _ in received]
        assert len(ids) == len(set(ids)), f"{path}: {len(ids) - len(set(ids))} events received twice"
        assert set(ids) == {event_id for event_id, _ in expected}, f"{path}: events lost"
        assert received == expected, f"{path}: out of order"
    assert [(row.pending, row.in_flight, row.delivered) for row in store.status(SystemClock().now())] == [
        (0, 0, len(stored))
    ] * len(paths)

    # The figures asked for, printed (pytest -s) rather than asserted: on a busy machine any bound is flaky.
    writes = [*timing["writes"], *json.loads(last_writes.read_text())]
    writes += [write for run in cron_writes.iterdir() for write in json.loads(run.read_text())]
    producing_ended = max(report["finished_at"] for report in produced)
    overlapping = [write for write in writes if write[4] < producing_ended]
    print(
        f"\n{len(stored)} events from {len(producers)} producers in {producing_ended - started:.1f} s "
        f"(their longest transaction {max(report['longest_ms'] for report in produced):.0f} ms); "
        f"all delivered to {len(paths)} endpoints by {drained_s:.1f} s: {timing['delivered']} by "
        f"{timing['runs']} timed runs and {sum(_delivered(run) for run in cron_runs)} by {len(cron_runs)} cron runs "
        f"meanwhile, {_delivered(last)} by the last run"
        f"\nprocess write lock: {_lock_figures(writes)}"
        + (f"\n  of which while producers inserted: {_lock_figures(overlapping)}" if overlapping else "")
    )
