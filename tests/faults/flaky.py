"""A receiver on 127.0.0.1 that fails the way real ones do, at random, and remembers every request.

Each path ``/e0``, ``/e1``, ... is one endpoint. For every request it draws, from that endpoint's own
seeded RNG, one of:

- ``ok``: read the body, answer 200;
- ``5xx``: answer 500, 502 or 503 (no Retry-After), refusing the events;
- ``reset``: reset the connection (SO_LINGER 0) before reading the body;
- ``crash``: read the body, then reset the connection: a receiver that took the events in and died
  before answering, so the dispatcher sees a failure for a body that did arrive;
- ``stall``: read the body, then say nothing until well past the dispatcher's timeout.

An endpoint is sent one batch at a time, so its draws are made one after the other: with the fixed
seed, the n-th request an endpoint gets has the same answer in every run of the test.
``crash`` and ``stall`` are where a correct at-least-once sender duplicates: the events arrived, yet
the sender must retry them.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import dispatcher
from dispatcher.sending.request import DELIVERY_ID_HEADER

# Cumulative thresholds: 70 % ok, then 30 % faults, half of them 5xx.
MIX = (("ok", 0.70), ("5xx", 0.85), ("reset", 0.90), ("crash", 0.95), ("stall", 1.0))
FAULTS = ("5xx", "reset", "crash", "stall")


@dataclass(frozen=True)
class Request:
    """One request as the receiver saw it."""

    endpoint: int  # the n of /e<n>
    batch_id: str  # from the delivery id header, so known even when the body is not read
    event_ids: tuple[int, ...]  # empty when the body was not read
    answer: str  # what the receiver did: a MIX name, or "cut" when the body never arrived whole

    @property
    def taken_in(self) -> bool:
        """Whether the receiver got the events: what a duplicate is counted on."""
        return self.answer in ("ok", "crash", "stall")


class FlakyReceiver:
    def __init__(self, endpoints: int, seed: int, secret: str, stall_s: float) -> None:
        self.secret = secret
        self.stall_s = stall_s
        self.rngs = [random.Random(seed * 1000 + n) for n in range(endpoints)]
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.problems: list[str] = []  # requests a correct sender never makes
        self.stopping = threading.Event()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, endpoint: int) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/e{endpoint}"

    def __enter__(self) -> FlakyReceiver:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stopping.set()  # stalled handlers let go at once
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def draw(self, endpoint: int) -> str:
        with self.lock:
            dice = self.rngs[endpoint].random()
        return next(name for name, threshold in MIX if dice < threshold)

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def handle(self, handler: _Handler) -> None:
        try:
            endpoint = int(handler.path.removeprefix("/e"))
            self.rngs[endpoint]
        except (ValueError, IndexError):
            self.problem(f"request to an unknown path {handler.path!r}")
            handler.answer(404)
            return
        batch_id = handler.headers.get(DELIVERY_ID_HEADER, "")
        answer = self.draw(endpoint)
        if answer == "reset":
            self.record(Request(endpoint, batch_id, (), answer))
            handler.reset()
            return
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)  # a 5xx too: the connection is kept alive for the next request
        if len(body) < length:  # the sender went away mid-body (killed)
            self.record(Request(endpoint, batch_id, (), "cut"))
            handler.close_connection = True
            return
        if answer == "5xx":  # refused: the events are not taken in
            self.record(Request(endpoint, batch_id, (), answer))
            handler.answer(random.Random(batch_id).choice((500, 502, 503)))
            return
        try:
            dispatcher.verify(body, dict(handler.headers.items()), self.secret)
            batch = json.loads(body)
        except Exception as error:
            self.problem(f"/e{endpoint}: bad request {body[:80]!r}: {error}")
            handler.answer(400)
            return
        if batch["batch_id"] != batch_id:
            self.problem(f"/e{endpoint}: body batch {batch['batch_id']} under delivery id {batch_id}")
        self.record(Request(endpoint, batch_id, tuple(event["id"] for event in batch["events"]), answer))
        if answer == "ok":
            handler.answer(200)
        elif answer == "crash":
            handler.reset()
        else:
            self.stopping.wait(self.stall_s)  # until the sender has long given up
            handler.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Several runs connect at once, and a refused connection would be a fault we did not choose.
    request_queue_size = 128
    receiver: FlakyReceiver

    def handle_error(self, request: object, client_address: object) -> None:
        """A killed sender resets its connections, which is expected; anything else is a receiver bug."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.receiver.problem(f"receiver error: {error!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's session uses it
    timeout = 10  # an idle kept-alive connection goes after this
    server: _Server

    def do_POST(self) -> None:
        self.server.receiver.handle(self)

    def answer(self, status: int) -> None:
        body = b"ok" if status == 200 else b"down"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST instead of FIN, as a crashed or cut-off peer does."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the last reference to the socket besides the connection itself
        self.connection.close()

    def log_message(self, format: str, *args: object) -> None:
        pass  # thousands of requests; the test reports the figures instead
