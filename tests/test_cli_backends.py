"""The everyday commands end to end, as the real program runs them, on each backend: SQLite, then
PostgreSQL (`--db postgresql://...?schema=...`, the way a second host would be pointed at it)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer

from .helpers import dispatcher_command

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dispatcher_on(db_text: str) -> Run:
    """The real program on the test's backend; a command that fails fails the test, with its output."""

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*dispatcher_command(), "--db", db_text, *args], capture_output=True, text=True, input=input, timeout=120
        )
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done

    return run


def test_a_queue_set_up_fed_and_drained_with_the_real_program(dispatcher_on: Run, httpserver: HTTPServer) -> None:
    run = dispatcher_on
    httpserver.expect_request("/leads").respond_with_data("ok")
    assert run("init").stdout.startswith("database ready: ")
    run("config", "set", "batch_size", "2")
    added = run("endpoint", "add", httpserver.url_for("/leads"), "--event", "lead.*", "--allow-private", "--json")
    hook = json.loads(added.stdout)
    assert run("enqueue", "lead.created", '{"id": 1}').stdout.strip() == "1"
    run("enqueue", "order.paid", "{}")  # nobody's: kept, never sent
    run("import", "-", "--type", "lead.created", "--format", "jsonl", input='{"id": 2}\n{"id": 3}\n{"id": 4}\n')

    drained = run("process", "--processes", "2", "--workers", "2", "--time-limit", "20s")
    assert "2 requests" in drained.stdout and "4 events delivered" in drained.stdout, drained.stdout

    (status,) = json.loads(run("status", "--json").stdout)
    assert (status["endpoint"], status["delivered"], status["pending"]) == (hook["id"], 4, 0)
    received = [event["id"] for request, _ in httpserver.log for event in json.loads(request.get_data())["events"]]
    assert sorted(received) == [1, 3, 4, 5]  # event 2 is the order, which no endpoint takes
    attempts = json.loads(run("attempts", "--json").stdout)
    assert len(attempts) == 2 and all(attempt["ok"] for attempt in attempts)
    assert run("config", "get", "batch_size").stdout == "2\n"
