"""How a request reaches its receiver: at the address the guard checked, and never past its deadline.

requests' timeouts bound each socket operation, not the exchange: a receiver
that drips its status line and headers a byte at a time can hold a worker for
ever, each read well inside the timeout. So while a connection waits for a
response's head, a watchdog thread holds its deadline, and shuts the socket
when it passes; the wait ends with a timeout. The body is read by the sender,
each read capped at the time left.

What a request needs of the transport beyond requests' own arguments travels
with it: the sender sends a :class:`GuardedRequest` carrying its
:class:`RequestContext`; the adapter hands that context to the pool the request
goes through, and the pool to the connection serving it.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse, HTTPResponse

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection


@dataclass(frozen=True)
class RequestContext:
    """What the transport needs of one request besides the request itself."""

    addresses: tuple[str, ...]  # the checked addresses of the URL's host, to connect to in turn; never empty
    deadline: float  # time.monotonic() by which the exchange must be over


class GuardedRequest(requests.PreparedRequest):
    """A prepared request with its :class:`RequestContext`: the only kind :class:`PinnedAdapter` sends."""

    def __init__(self, context: RequestContext) -> None:
        super().__init__()
        self.context = context


class _Watchdog:
    """One thread for the process: shuts the socket of every connection still waiting at its deadline."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, connection: HTTPConnection, at: float) -> _Watch:
        watched = _Watch(connection)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dispatcher-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (at, next(self._order), watched))
            if self._due[0][2] is watched:  # else the thread already wakes earlier: spare it a wake-up per request
                self._wake.notify()
        return watched

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)  # answered in time: forgotten lazily
                if not self._due:
                    self._wake.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _, _, late = heapq.heappop(self._due)
                late.cut()

    def finish(self, watched: _Watch) -> None:
        """The head is in (or failed): from now on the socket is not the watchdog's to cut."""
        with self._wake:
            watched.done = True


class _Watch:
    def __init__(self, connection: HTTPConnection) -> None:
        self.connection = connection
        self.done = False
        self.fired = False

    def cut(self) -> None:
        sock = self.connection.sock
        if sock is not None and not self.done:
            self.fired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
            except OSError:
                pass  # closed meanwhile


_WATCHDOG = _Watchdog()


class _GuardedHTTPConnection(HTTPConnection):
    """Connects to the checked addresses only, each in turn until one answers (as urllib3 itself
    tries every address a name resolves to), and waits for a response's head no longer than the
    request's deadline."""

    context: RequestContext  # of the request it serves: its pool gives it at the start of each

    def _new_conn(self) -> socket.socket:
        *others, last = self.context.addresses
        for address in others:
            self.host = address.strip("[]")
            try:
                return super()._new_conn()
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
                if time.monotonic() >= self.context.deadline:
                    raise
        self.host = last.strip("[]")
        return super()._new_conn()

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # urllib3's, as urllib3 itself declares it
        watched = _WATCHDOG.watch(self, self.context.deadline)
        try:
            response = super().getresponse()
        except Exception:
            if watched.fired:
                raise _late() from None
            raise
        finally:
            _WATCHDOG.finish(watched)
        if watched.fired:  # cut mid-head, the rest can read as an empty end of the headers
            raise _late()
        return response


def _late() -> TimeoutError:
    # urllib3 turns this into a read timeout, which requests reports as one.
    return TimeoutError("no complete response head by the deadline")


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    """Hands each request's context to the connection serving it."""

    ConnectionCls = _GuardedHTTPConnection
    context: RequestContext  # set on a request's own view of the pool only (see for_request)

    def for_request(self, context: RequestContext) -> Self:
        """The pool as one request uses it: the same connections and settings, and that request's context.

        requests passes a pool nothing of the request but its method, URL, headers and body, so
        the context rides on a view of the pool: a shallow copy, whose connections are still
        taken from and returned to the pool's own queue.
        """
        view = copy.copy(self)
        view.context = context
        return view

    def _make_request(
        self, conn: BaseHTTPConnection, method: str, url: str, *args: Any, **kwargs: Any
    ) -> BaseHTTPResponse:
        assert isinstance(conn, _GuardedHTTPConnection)  # the pool's ConnectionCls
        conn.context = self.context
        return super()._make_request(conn, method, url, *args, **kwargs)


class _GuardedHTTPSPool(_GuardedHTTPPool, HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Sends :class:`GuardedRequest` s to the addresses the guard checked, not to whatever the host
    name resolves to by the time the connection is made; TLS still checks the certificate against
    the name. Its connections wait for a response no longer than the request's deadline.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
            pool_kwargs["assert_hostname"] = host_params["host"]
        host_params["host"] = _context(request).addresses[0]  # the pool's key; its connections try them all
        return host_params, pool_kwargs

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        proxies: dict[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        assert isinstance(pool, _GuardedHTTPPool)  # init_poolmanager's classes
        return pool.for_request(_context(request))


def _context(request: requests.PreparedRequest) -> RequestContext:
    if not isinstance(request, GuardedRequest):
        raise TypeError(f"PinnedAdapter sends a GuardedRequest, not a {type(request).__name__}")
    return request.context
