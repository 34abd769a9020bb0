"""Plain helpers for the tests that drive the process loop: an endpoint on a test receiver, events
in the queue, a receiver that answers as scripted, and one that times every request it gets."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.producer import open as open_queue
from dispatcher.store import Store

from .helpers import SECRET


def add_endpoint(store: Store, server: HTTPServer, path: str = "/hook", **options: Any) -> int:
    return endpoints.add(store, server.url_for(path), secret=SECRET, **options).id


def enqueue(db_path: Path, count: int, event_type: str = "lead.created") -> list[int]:
    with open_queue(db_path) as queue:
        return [queue.enqueue(event_type, {"n": n}) for n in range(count)]


def answers(*statuses: int) -> Callable[[Request], Response]:
    """A handler answering with these statuses in turn, then 200."""
    remaining = list(statuses)

    def handle(request: Request) -> Response:
        return Response(status=remaining.pop(0) if remaining else 200)

    return handle


# --- a receiver that times every request ------------------------------------------------------


@dataclass
class Seen:
    """One request as the timing receiver saw it; times are ``time.monotonic()``."""

    number: int  # 1 for the first request to arrive
    started: float  # when it arrived, its body read
    batch_id: str
    event_ids: tuple[int, ...]
    attempt: int  # 1 the first time this batch id arrives, 2 when it is sent again, ...
    ended: float | None = None  # when its answer was given
    status: int | None = None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering
    headers: tuple[tuple[str, str], ...] = ()


Rule = Callable[[Seen], Answer]


class TimingReceiver:
    """A threaded receiver on 127.0.0.1 that times each POST and answers it by ``rule``.

    ``rule`` runs in the request's own thread and may block (on an event, say) before it returns
    the answer. A request stops counting as in flight just before its answer is written: the
    sender can start another only once that answer has reached it, so a count above what the
    sender allows is the sender's doing, never this receiver's bookkeeping.
    """

    def __init__(self) -> None:
        self.rule: Rule = lambda seen: Answer()
        self.requests: list[Seen] = []  # in order of arrival
        self.in_flight = 0
        self.peak = 0  # the most requests in flight at once
        self.stopping = threading.Event()  # lets every waiting answer go at once
        self.changed = threading.Condition()
        self.server = _TimingServer(("127.0.0.1", 0), _TimingHandler)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01})

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether ``condition`` (read under the receiver's lock) came true within ``timeout`` seconds."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def pause(self, seconds: float) -> None:
        """Wait, or less once the receiver stops: for rules, so a test never waits on its receiver."""
        self.stopping.wait(seconds)

    def arrived(self, body: bytes) -> Seen:
        batch = json.loads(body)
        event_ids = tuple(event["id"] for event in batch["events"])
        with self.changed:
            attempt = 1 + sum(seen.batch_id == batch["batch_id"] for seen in self.requests)
            seen = Seen(len(self.requests) + 1, time.monotonic(), batch["batch_id"], event_ids, attempt)
            self.requests.append(seen)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.changed.notify_all()
        return seen

    def answered(self, seen: Seen, status: int) -> None:
        with self.changed:
            seen.ended, seen.status = time.monotonic(), status
            self.in_flight -= 1
            self.changed.notify_all()


class _TimingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # several runs connect at once: no connection refused
    receiver: TimingReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A killed sender's connections reset, which is expected; anything else fails loudly."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _TimingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's session uses it
    server: _TimingServer

    def do_POST(self) -> None:
        receiver = self.server.receiver
        seen = receiver.arrived(self.rfile.read(int(self.headers["Content-Length"])))
        answer = receiver.rule(seen)
        receiver.pause(answer.delay)
        receiver.answered(seen, answer.status)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def overlap(requests: list[Seen]) -> int:
    """The most of ``requests`` in flight at once, from their times (one not answered counts to the end)."""
    marks = sorted(
        [(seen.started, 1) for seen in requests]
        + [(seen.ended, -1) for seen in requests if seen.ended is not None]  # ends first at a tie
    )
    most = running = 0
    for _, step in marks:
        running += step
        most = max(most, running)
    return most


def in_flight_at(requests: list[Seen], moment: float) -> list[Seen]:
    return [seen for seen in requests if seen.started < moment and (seen.ended is None or seen.ended > moment)]
