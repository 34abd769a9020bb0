"""How a request reaches its receiver: at the address the guard checked, and never past its deadline.

requests' timeouts bound each socket operation, not the exchange: a receiver
that drips its status line and headers a byte at a time can hold a worker for
ever, each read well inside the timeout. So while a connection waits for a
response's head, a watchdog thread holds its deadline, and shuts the socket
when it passes; the wait ends with a timeout. The body is read by the sender,
each read capped at the time left.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Sending(threading.local):
    """What the Sender tells the transport of the request this thread is sending, right before it."""

    deadline: float | None = None  # time.monotonic()
    addresses: tuple[str, ...] = ()  # the checked addresses of the URL's host, to connect to in turn


sending = _Sending()


class _Watchdog:
    """One thread for the process: shuts the socket of every connection still waiting at its deadline."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, connection: urllib3.connection.HTTPConnection, at: float) -> _Watch:
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
    def __init__(self, connection: urllib3.connection.HTTPConnection) -> None:
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


class _GuardedMixin:
    """Connects to the checked addresses only, each in turn until one answers (as urllib3 itself
    tries every address a name resolves to), and waits for a response's head no longer than the
    request's deadline."""

    def _new_conn(self) -> socket.socket:
        addresses = sending.addresses
        for index, address in enumerate(addresses):
            self.host = address.strip("[]")
            try:
                return super()._new_conn()  # type: ignore[misc,no-any-return]
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
                out_of_time = sending.deadline is not None and time.monotonic() >= sending.deadline
                if index == len(addresses) - 1 or out_of_time:
                    raise
        return super()._new_conn()  # type: ignore[misc,no-any-return]

    def getresponse(self) -> Any:
        at = sending.deadline
        if at is None:
            return super().getresponse()  # type: ignore[misc]
        watched = _WATCHDOG.watch(self, at)  # type: ignore[arg-type]
        try:
            response = super().getresponse()  # type: ignore[misc]
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


class _WatchedHTTPConnection(_GuardedMixin, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_GuardedMixin, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """Connects to the addresses the guard checked, not to whatever the host name resolves to by the
    time the connection is made; TLS still checks the certificate against the name. Its
    connections wait for a response no longer than the request's deadline.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
            pool_kwargs["assert_hostname"] = host_params["host"]
        host_params["host"] = sending.addresses[0]  # the pool's key; its connections try them all
        return host_params, pool_kwargs
