"""A small local webhook receiver: records what arrives, checks its signature, and can print and save it.

Used by ``dispatcher demo`` to show batches arriving, and by ``dispatcher listen`` for trying
endpoints by hand (like RequestBin). Runs on a background thread; not a production server.
"""

from __future__ import annotations

import errno
import json
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase

from .capture import Capture, Saved
from .clock import Clock, SystemClock, to_text
from .errors import DispatcherError
from .signing import SignatureError, verify

REJECTED_STATUS = 401


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    method: str = "POST"
    reason: str | None = None  # why the signature was refused; None if it is valid or was not checked
    checked: bool = True  # False when the receiver holds no secret to check with
    header_lines: tuple[tuple[str, str], ...] = ()  # every header as it came, repeats and original case kept
    rejected: bool = False  # answered 401 for its signature (reject_invalid)
    saved: Saved | None = None
    save_error: str | None = None  # why it could not be saved
    at: datetime = field(kw_only=True)


class Receiver:
    """Answers every request with ``status`` and an empty body, after checking its signature.

    ``printer``, if given, gets a readable account of each request (see :func:`describe`), one call
    per request and never two at once, so concurrent requests do not interleave their lines.
    ``reject_invalid`` answers 401 instead when the signature does not verify; ``capture`` saves
    every request, valid or not.
    """

    def __init__(
        self,
        secrets: list[str],
        host: str = "127.0.0.1",
        port: int = 0,
        status: int = 200,
        on_request: Callable[[Received], None] | None = None,
        *,
        scheme: str = "mautic",
        signature_header: str | None = None,
        signature_prefix: str | None = None,
        tolerance: int = 300,
        printer: Callable[[str], None] | None = None,
        reject_invalid: bool = False,
        capture: Capture | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not 100 <= status <= 599:
            raise DispatcherError(f"invalid status {status}: use 100 to 599")
        if reject_invalid and not secrets:
            raise DispatcherError("rejecting invalid signatures needs a secret to check them with (--secret)")
        self._check = partial(
            verify,
            secrets=list(secrets),
            scheme=scheme,
            signature_header=signature_header,
            signature_prefix=signature_prefix,
            tolerance=tolerance,
        )
        try:
            self._check(b"", {})  # bad options or secrets fail now, not as a verdict on every request
        except SignatureError:
            pass  # a request without headers is refused, as it should be
        self._checking = bool(secrets)
        self._reject_invalid = reject_invalid
        self._capture = capture
        self._clock = clock or SystemClock()
        self._printer = printer
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                try:
                    body = _read_body(self.rfile, self.headers)
                except ValueError as error:
                    self.send_error(400, str(error))
                    return
                received = receiver._receive(self.command, self.path, self.headers.items(), body)
                if on_request:
                    on_request(received)
                self.send_response(REJECTED_STATUS if received.rejected else status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            # Any method is taken, as RequestBin does: the point is to see what a sender sends.
            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = do_HEAD = do_OPTIONS = handle_any  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass  # the caller reports requests its own way

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            busy = error.errno == errno.EADDRINUSE
            reason = f"port {port} is in use on {host}" if busy else f"cannot listen on {host} port {port}: {error}"
            raise DispatcherError(reason, exit_code=1) from None
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def address(self) -> str:
        """Where it listens, as ``http://HOST:PORT/``, with the real port when 0 was asked for."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def url(self) -> str:
        return f"{self.address}webhook"

    def _receive(self, method: str, path: str, header_lines: Iterable[tuple[str, str]], body: bytes) -> Received:
        lines = tuple(header_lines)
        headers = dict(lines)
        at = self._clock.now()
        verified, reason = False, None
        if self._checking:
            try:
                self._check(body, headers)
                verified = True
            except SignatureError as error:
                reason = str(error)
        rejected = self._reject_invalid and not verified
        received = Received(path, headers, body, verified, method, reason, self._checking, lines, rejected, at=at)
        with self._lock:  # also keeps the numbers of saved requests in the order they are printed
            if self._capture:
                received = self._save(received, self._capture)
            self.requests.append(received)
            if self._printer:
                self._printer(describe(received))
        return received

    def _save(self, received: Received, capture: Capture) -> Received:
        comments = [f"{received.method} {received.path}", f"received {to_text(received.at)}", verdict(received)]
        try:
            return replace(received, saved=capture.save(received.body, received.header_lines, comments))
        except OSError as error:  # a full disk: the request is still answered and printed
            return replace(received, save_error=f"{error.strerror or error}")

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_until_stopped(receiver: Receiver, say: Callable[[str], None]) -> None:
    """Say where ``receiver`` listens, then serve until Ctrl-C or SIGTERM, and return quietly."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds the wait below, like Ctrl-C

    # Only the main thread may set signal handlers; elsewhere Ctrl-C is the caller's business.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if in_main else None
    try:
        say(f"listening on {receiver.address}")
        with receiver:
            receiver.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:  # None: not ours to restore (not the main thread, or set outside Python)
            signal.signal(signal.SIGTERM, previous)


def describe(request: Received) -> str:
    """A separator with the time, the request line, headers, body (pretty if JSON), the signature verdict,
    and where it was saved, as printed by ``listen``."""
    lines = [f"--- {to_text(request.at)} " + "-" * 40, f"{request.method} {request.path}"]
    lines += [f"{name}: {value}" for name, value in request.header_lines or request.headers.items()]
    lines += ["", _body_text(request.body), "", verdict(request)]
    if request.saved:
        lines.append(f"saved: {request.saved.headers} {request.saved.body}")
    if request.save_error:
        lines.append(f"not saved: {request.save_error}")
    return "\n".join(lines) + "\n"


def verdict(request: Received) -> str:
    """``signature: valid``, ``signature: INVALID (<reason>)`` or ``signature: not checked (no --secret)``."""
    if not request.checked:
        return "signature: not checked (no --secret)"
    if request.verified:
        return "signature: valid"
    answer = f", answered {REJECTED_STATUS}" if request.rejected else ""
    return f"signature: INVALID ({request.reason}){answer}"


def _body_text(body: bytes) -> str:
    if not body:
        return "(empty body)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:  # not JSON, or not in a Unicode encoding
        return body.decode("utf-8", errors="replace")


def _read_body(stream: BufferedIOBase, headers: Message) -> bytes:
    """The request body, sent with a Content-Length or in chunks (``curl -T -``, a streaming client)."""
    if "chunked" not in ",".join(headers.get_all("Transfer-Encoding") or []).lower():
        length = headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise ValueError("bad Content-Length")
        return stream.read(int(length))
    chunks = []
    while size := int(stream.readline().split(b";")[0].strip() or b"x", 16):  # ValueError if not hex
        chunks.append(stream.read(size))
        stream.readline()  # the CRLF after the chunk
    while stream.readline().strip():
        pass  # trailer fields, up to the blank line
    return b"".join(chunks)
