"""`dispatcher process` as a person or cron meets it: Ctrl-C and SIGTERM, a disabled endpoint, --json.

Signals go to the real program in a subprocess; a pytest-httpserver receiver on
127.0.0.1 holds requests in flight and counts every event id it gets.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.clock import SystemClock
from dispatcher.store import Store

from .helpers import SECRET
from .process_helpers import enqueue

STOPPING = "stopping once the requests in flight are done (interrupt again to quit at once)"


class CountingReceiver:
    """Counts each event id it is sent; while ``hold`` is set, keeps each request that long."""

    def __init__(self, server: HTTPServer, hold: float = 0.0) -> None:
        self.seen: Counter[int] = Counter()
        self.arrived = threading.Event()
        self.hold = hold
        server.expect_request("/hook").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.seen.update(event["id"] for event in json.loads(request.get_data())["events"])
        self.arrived.set()
        time.sleep(self.hold)
        return Response("ok")


@pytest.mark.parametrize(
    ("signum", "status", "options"),
    [
        (signal.SIGINT, 130, ()),  # Ctrl-C in a terminal
        (signal.SIGTERM, 143, ("--quiet",)),  # cron's `timeout`, systemd: the summary is printed all the same
    ],
)
@pytest.mark.slow
def test_a_signal_stops_the_run_cleanly_and_the_next_run_sends_the_rest_at_once(
    db_path: Path,
    store: Store,
    receiver: HTTPServer,
    start_process: Callable[..., subprocess.Popen[str]],
    run_dispatcher: Callable[..., subprocess.CompletedProcess[str]],
    signum: int,
    status: int,
    options: tuple[str, ...],
) -> None:
    endpoints.add(store, receiver.url_for("/hook"), secret=SECRET, batch_size=1)
    ids = enqueue(db_path, 4)
    counting = CountingReceiver(receiver, hold=1.0)

    process = start_process("--time-limit", "20s", *options)
    assert counting.arrived.wait(10)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=10)

    assert process.returncode == status
    # The request in flight finished and was recorded; no other started.
    assert stdout == "1 request, 1 event delivered, 0 failures, 0 retries scheduled, 0 dead, interrupted\n"
    assert stderr == STOPPING + "\n"
    assert counting.seen == Counter(ids[:1])
    # The endpoint's lease was released: held, it would keep this run away for a minute.
    counting.hold = 0.0
    rest = run_dispatcher("process", "--time-limit", "5s")
    assert (rest.returncode, rest.stderr) == (0, "")
    assert rest.stdout.startswith("3 requests, 3 events delivered")
    assert counting.seen == Counter(ids)  # every event, once


def test_a_second_interrupt_quits_at_once_and_the_lease_keeps_what_was_in_flight(
    db_path: Path, store: Store, receiver: HTTPServer, start_process: Callable[..., subprocess.Popen[str]]
) -> None:
    endpoints.add(store, receiver.url_for("/hook"), secret=SECRET, batch_size=2)
    enqueue(db_path, 4)
    arrived, release = threading.Event(), threading.Event()

    def hang(request: Request) -> Response:
        arrived.set()
        release.wait(10)
        return Response("ok")

    receiver.expect_request("/hook").respond_with_handler(hang)
    process = start_process("--time-limit", "20s")
    try:
        assert arrived.wait(10)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        assert process.stderr.readline() == STOPPING + "\n"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=5)
        assert not release.is_set()  # the receiver still holds the request
    finally:
        release.set()

    assert process.returncode == 130
    assert stdout == ""
    assert stderr.startswith("Error: quit at once;") and stderr.count("\n") == 1
    [row] = store.status(SystemClock().now())
    assert (row.in_flight, row.pending, row.delivered) == (2, 2, 0)  # nothing lost


def gone_endpoint(store: Store, receiver: HTTPServer, **options: str) -> int:
    """An endpoint with a name and a login in its URL, whose receiver answers 410 Gone."""
    url = receiver.url_for("/hook").replace("http://", "http://crm:hunter2@")
    receiver.expect_request("/hook").respond_with_data("gone", status=410)
    return endpoints.add(store, url, secret=SECRET, name="crm", **options).id


@pytest.mark.parametrize("quiet", [True, False])
def test_a_disabled_endpoint_is_named_on_stderr_even_when_quiet(
    db_path: Path, store: Store, receiver: HTTPServer, invoke: Callable[..., Result], quiet: bool
) -> None:
    endpoint_id = gone_endpoint(store, receiver)
    enqueue(db_path, 1)

    result = invoke("process", "--time-limit", "2s", *(["--quiet"] if quiet else []))

    assert result.exit_code == 0
    summary = "1 request, 0 events delivered, 1 failure, 1 retry scheduled, 0 dead, 1 endpoint disabled\n"
    assert result.stdout == ("" if quiet else summary)
    assert result.stderr == (
        f"endpoint {endpoint_id} (crm) {receiver.url_for('/hook')} disabled: "
        "HTTP 410 Gone: the receiver says this endpoint no longer exists; "
        f"re-enable it with: dispatcher endpoint enable {endpoint_id}; "
        "no one was notified: set smtp_host and smtp_to, or --notify-command\n"
    )


def test_the_disabled_line_says_who_was_notified(
    db_path: Path, store: Store, receiver: HTTPServer, invoke: Callable[..., Result], tmp_path: Path
) -> None:
    notice = tmp_path / "notice.json"
    gone_endpoint(store, receiver, notify_command=f"cat > '{notice}'")
    enqueue(db_path, 1)

    result = invoke("process", "--time-limit", "2s", "--quiet")

    assert result.exit_code == 0
    assert result.stderr.endswith("; notified by command\n") and result.stderr.count("\n") == 1
    assert json.loads(notice.read_text())["event"] == "disabled"


def test_process_json(db_path: Path, store: Store, receiver: HTTPServer, invoke: Callable[..., Result]) -> None:
    endpoint_id = gone_endpoint(store, receiver, notify_command="echo no route >&2; exit 3")
    enqueue(db_path, 1)

    result = invoke("process", "--time-limit", "2s", "--json")

    assert result.exit_code == 1  # the notification failed
    assert json.loads(result.stdout) == {
        "requests": 1,
        "delivered": 0,
        "failures": 1,
        "retries": 1,
        "dead": 0,
        "interrupted": False,
        "disabled": [
            {
                "endpoint": endpoint_id,
                "name": "crm",
                "url": receiver.url_for("/hook"),
                "reason": "HTTP 410 Gone: the receiver says this endpoint no longer exists",
                "channels": ["command"],
                "notified": [],
            }
        ],
        "errors": [f"endpoint {endpoint_id}: notify command exited 3: no route"],
    }
    assert "the notification failed" in result.stderr
    assert f"Error: endpoint {endpoint_id}: notify command exited 3: no route" in result.stderr
