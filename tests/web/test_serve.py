"""The `dispatcher serve` process itself: how it starts, refuses, stops, delivers and says it is healthy."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import dispatcher
from dispatcher.clock import from_text
from dispatcher.store import open_store

from ..helpers import dispatcher_command
from ..process_helpers import answers
from .served import LISTENING, Served, add_endpoint, start_serve, wait_until

pytestmark = pytest.mark.slow  # each test starts a server process


def test_port_0_takes_a_free_port_and_loopback_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    served = start_serve(tmp_path / "new.db", keys=("", ""))  # no key in the database
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", served.url) and not served.url.endswith(":0")
    hint = served.process.stdout.readline() if served.process.stdout else ""
    assert "no API key yet" in hint and f"dispatcher --db {served.db} api-key create" in hint
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    code, out, _ = served.stop()
    assert (code, out.strip()) == (0, "stopped")


def test_a_non_loopback_address_without_a_key_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [*dispatcher_command(), "--db", str(tmp_path / "new.db"), "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: no API key yet, and 0.0.0.0 is not a loopback address")
    assert "api-key create" in line and done.stdout == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_it_cleanly(serve: Callable[..., Served], signum: int) -> None:
    served = serve()
    code, out, err = served.stop(signum)
    assert (code, out.strip()) == (0, "stopped")
    assert "Traceback" not in err


def test_a_request_in_flight_when_it_is_told_to_stop_is_answered(serve: Callable[..., Served]) -> None:
    served = serve()
    where = urlsplit(served.url)
    body = b"key=not-a-key&csrf_token=x"
    with socket.create_connection((where.hostname, where.port), timeout=30) as conn:
        # Half a request: the server has begun it when SIGTERM comes, and must finish it.
        conn.sendall(
            b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:5]
        )
        time.sleep(0.3)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        conn.sendall(body[5:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]  # the login page, its form stale
    assert b"Log in" in answer
    code, out, _ = served.stop()
    assert (code, out.strip().splitlines()[-1]) == (0, "stopped")


def test_deliver_sends_events_queued_after_start_and_retries_on_schedule(
    serve: Callable[..., Served], receiver: HTTPServer
) -> None:
    served = serve("--deliver")
    endpoint_id = add_endpoint(served.db, receiver.url_for("/hook"), retry="fixed:1s")
    receiver.expect_request("/hook").respond_with_handler(answers(503))
    with dispatcher.open(served.db) as queue:
        event_id = queue.enqueue("lead.created", {"n": 1})

    wait_until(lambda: len(receiver.log) == 2)
    (first, _), (second, _) = receiver.log
    assert first.get_data() == second.get_data() and str(event_id).encode() in first.get_data()
    store = open_store(served.db)
    try:
        wait_until(lambda: store.status(from_text("2030-01-01T00:00:00.000Z"))[0].delivered == 1)
        failed, delivered = store.attempts(endpoint_id)
    finally:
        store.close()
    assert (failed.status_code, delivered.status_code) == (503, 200)
    gap = (delivered.started_at - failed.started_at).total_seconds()
    assert 1 <= gap < 5  # fixed:1s (plus jitter), not the next cron minute
    code, out, _ = served.stop()
    assert code == 0 and "1 event delivered" in out


def test_a_delivery_in_flight_when_it_is_told_to_stop_finishes(
    serve: Callable[..., Served], receiver: HTTPServer
) -> None:
    served = serve("--deliver")
    endpoint_id = add_endpoint(served.db, receiver.url_for("/slow"))

    arrived = threading.Event()

    def slowly(request: Request) -> Response:
        arrived.set()
        time.sleep(1.5)
        return Response("late but fine")

    receiver.expect_request("/slow").respond_with_handler(slowly)
    with dispatcher.open(served.db) as queue:
        queue.enqueue("lead.created", {"n": 1})
    assert arrived.wait(15)  # the request is on its way: the receiver sleeps before it answers
    code, out, _ = served.stop()
    assert code == 0 and out.strip().splitlines()[-1] == "stopped"
    store = open_store(served.db)
    try:
        (attempt,) = store.attempts(endpoint_id)
    finally:
        store.close()
    assert attempt.status_code == 200 and attempt.response_excerpt == "late but fine"


def test_healthz_is_200_while_the_database_answers_and_503_once_it_is_gone(serve: Callable[..., Served]) -> None:
    served = serve()
    assert requests.get(f"{served.url}/healthz", timeout=10).json() == {"status": "ok"}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{served.db}{suffix}").unlink(missing_ok=True)
    gone = requests.get(f"{served.url}/healthz", timeout=10)
    assert gone.status_code == 503
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["detail"] == "the database does not answer"


def test_healthz_is_503_when_the_database_is_corrupt(serve: Callable[..., Served]) -> None:
    served = serve()
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    for suffix in ("-wal", "-shm"):
        Path(f"{served.db}{suffix}").unlink(missing_ok=True)
    served.db.write_bytes(b"this is not a database, it never was" * 200)
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 503


def test_docs_and_everything_they_load_come_from_this_server(server: Served) -> None:
    page = requests.get(f"{server.url}/docs", timeout=10)
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    scripts = [ref for ref in references if ref.endswith(".js")]
    sheets = [ref for ref in references if ref.endswith(".css")]
    assert scripts and sheets, references
    assert _hosts(page.text) <= {urlsplit(server.url).netloc}, "the page names another host"
    for reference in references:
        url = urljoin(server.url + "/docs", reference)
        assert urlsplit(url).netloc == urlsplit(server.url).netloc, reference
        asset = requests.get(url, timeout=10)
        assert asset.status_code == 200 and asset.content, reference
        if reference in sheets:
            assert not re.search(r"url\(\s*['\"]?https?://", asset.text), reference
    assert requests.get(f"{server.url}/openapi.json", timeout=10).json()["info"]["title"] == "dispatcher"


def _hosts(text: str) -> set[str]:
    """Hosts that the page loads from or sends to (in a src, href or a script's URL strings)."""
    return {
        urlsplit(found).netloc for found in re.findall(r"""(?:src|href|url)\s*[=:]\s*["'](https?://[^"']+)""", text)
    }


def test_without_the_web_extra_serve_names_it_in_one_line(tmp_path: Path) -> None:
    starter = "import sys; sys.modules['fastapi'] = None; from dispatcher.console import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", starter, "--db", str(tmp_path / "x.db"), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode != 0
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: serve needs the web extra") and "pip install 'dispatcher[web]'" in line
    assert LISTENING.search(done.stdout) is None
