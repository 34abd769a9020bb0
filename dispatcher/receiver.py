"""A small local webhook receiver: records what arrives and checks its signature.

Used by ``dispatcher demo`` to show batches arriving, and meant for trying
endpoints by hand. Runs on a background thread; not a production server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .signing import SignatureError, verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    def __init__(
        self,
        secrets: list[str],
        host: str = "127.0.0.1",
        port: int = 0,
        status: int = 200,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                try:
                    verify(body, headers, secrets)
                    verified = True
                except SignatureError:
                    verified = False
                received = Received(self.path, headers, body, verified)
                with receiver._lock:
                    receiver.requests.append(received)
                if on_request:
                    on_request(received)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the caller reports requests its own way

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/webhook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
