"""One POST: only to an allowed address, a deadline on the whole exchange, no redirects, a capped response.

HTTP only; no database. Each worker thread owns one :class:`Sender` (requests'
connection pools are not documented as thread-safe) and keeps its connections alive.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from ..clock import Clock
from ..errors import DispatcherError
from ..models import Batch, DeliverySettings, Endpoint, Headers, Outcome, SentRequest
from ..retry import MAX_RETRY_AFTER
from .reach import Reach, RefusedDestination, UnresolvedHost, public_url
from .request import build_request, is_success
from .transport import GuardedRequest, PinnedAdapter, RequestContext

RESPONSE_CAP = 64 * 1024
# "Slow down" answers whose Retry-After the next attempt honours.
RETRY_AFTER_STATUSES = (429, 503)
# The guard as shipped: public addresses only.
GUARDED = Reach()
# How long a host name's checked address is reused before it is looked up and checked again.
RESOLVED_FOR_S = 30.0
# Headers whose values the attempt log never keeps (lower case).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
REDACTED = "[redacted]"


@dataclass(frozen=True)
class _Target:
    """A URL as prepared once: the URL as requests sends it, and the name and port to check."""

    url: str
    host: str
    port: int
    host_header: str  # spelled as http.client would for the URL itself
    login: dict[str, str]  # Basic auth from a user:password@ in the URL, as requests makes it
    request_line: str  # as the attempt log shows it: without the login


class Sender:
    def __init__(self) -> None:
        # requests' transport, without a Session around it. What a Session adds to each
        # request is a proxy lookup, cookie handling and redirect handling, none of which
        # we want: proxies and .netrc from the environment would silently change where
        # signed payloads go, a receiver's cookies are never sent back, and a redirect is
        # a failure. On a fast receiver it costs as much CPU as the exchange itself.
        # The queue does its own retrying.
        self.adapter = PinnedAdapter(max_retries=0, pool_connections=4, pool_maxsize=4)
        self._targets: dict[str, _Target] = {}
        self._resolved: dict[tuple[str, int, Reach], tuple[tuple[str, ...], float]] = {}

    def close(self) -> None:
        self.adapter.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def deliver(self, endpoint: Endpoint, batch: Batch, settings: DeliverySettings, clock: Clock) -> Outcome:
        """Send ``batch`` to ``endpoint`` in its format, signed, with its headers.

        A batch its endpoint's settings can no longer express (a secret that
        does not suit a new scheme) fails like a refused request: it is
        retried on schedule, counts toward disabling, and the reason is kept.
        """
        scheme = endpoint.signing.scheme
        try:
            body, headers = build_request(endpoint, batch, clock.now())
        except DispatcherError as error:
            return Outcome(
                ok=False,
                started_at=clock.now(),
                duration_ms=0,
                error=f"not sent: {error}",
                body_format=endpoint.format,
                signature_scheme=scheme,
            )
        outcome = self.post(
            endpoint.url, body, headers, settings.timeout, clock, endpoint.success, settings.reach, endpoint.ca_bundle
        )
        return dataclasses.replace(outcome, body_format=endpoint.format, signature_scheme=scheme)

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
        clock: Clock,
        success: str = "2xx",
        reach: Reach = GUARDED,
        ca_bundle: str | None = None,
    ) -> Outcome:
        """POST ``body``; success is a status matching ``success`` whose response ends within ``timeout`` seconds."""
        started_at = clock.now()
        start = time.monotonic()
        deadline = start + timeout
        sent: SentRequest | None = None
        try:
            target = self._targets.get(url) or self._target(url)
            context = RequestContext(self._checked_addresses(target, reach), deadline)
            request = _prepared(target, body, headers, context)
            # Only now is it on its way: a refused destination is shown as "not sent".
            sent = SentRequest(target.request_line, _redacted(request.headers), hashlib.sha256(body).hexdigest())
            response = self.adapter.send(
                request, stream=True, timeout=(timeout, timeout), verify=ca_bundle or True, proxies=None
            )
            answer = _answer(response, deadline, timeout, success, clock)
        except _FAILURES as exc:
            answer = _Answer(error=_failure(exc, timeout))
        return Outcome(
            ok=answer.error is None,
            started_at=started_at,
            duration_ms=round((time.monotonic() - start) * 1000),
            status_code=answer.status,
            error=answer.error,
            response_excerpt=answer.excerpt,
            response_headers=answer.headers,
            retry_after=answer.retry_after,
            request=sent,
        )

    def _target(self, url: str) -> _Target:
        template = requests.Request("POST", url).prepare()
        prepared_url = str(template.url)
        parts = urlsplit(prepared_url)
        host = parts.hostname or ""
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        shown = f"[{host}]" if ":" in host else host
        login = {"Authorization": str(template.headers["Authorization"])} if "Authorization" in template.headers else {}
        host_header = shown if port == default_port else f"{shown}:{port}"
        target = _Target(prepared_url, host, port, host_header, login, f"POST {public_url(prepared_url)}")
        self._targets[url] = target
        return target

    def _checked_addresses(self, target: _Target, reach: Reach) -> tuple[str, ...]:
        key = (target.host, target.port, reach)
        cached = self._resolved.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        addresses = tuple(
            f"[{address}]" if ":" in address else address for address in reach.resolve(target.host, target.port)
        )
        self._resolved[key] = (addresses, time.monotonic() + RESOLVED_FOR_S)
        return addresses


def _prepared(target: _Target, body: bytes, headers: dict[str, str], context: RequestContext) -> GuardedRequest:
    """The POST as requests sends it, from a URL prepared once, with what its transport needs.

    ``Session.post`` prepares every request from scratch (URL parsing, merging
    session and environment settings), which on a fast receiver costs as much
    as the exchange itself. The wire is the same: Host, requests' default
    headers, then ours, in order.
    """
    prepared = GuardedRequest(context)
    prepared.method, prepared.url = "POST", target.url
    prepared.headers = CaseInsensitiveDict(
        {"Host": target.host_header, **_REQUESTS_DEFAULTS, **headers, "Content-Length": str(len(body))}
    )
    if target.login and "authorization" not in prepared.headers:  # a fixed header of the endpoint's wins
        prepared.headers.update(target.login)
    prepared.body = body
    return prepared


def _redacted(headers: CaseInsensitiveDict[str | bytes]) -> Headers:
    return tuple(
        (name, REDACTED if name.lower() in SECRET_HEADERS else value if isinstance(value, str) else value.decode())
        for name, value in headers.items()
    )


_REQUESTS_DEFAULTS = requests.utils.default_headers()


@dataclass(frozen=True)
class _Answer:
    """What came back of a request, as far as it got: nothing but the error if no response did."""

    error: str | None = None
    status: int | None = None
    headers: Headers = ()
    retry_after: float | None = None
    excerpt: str | None = None


def _answer(response: requests.Response, deadline: float, timeout: float, success: str, clock: Clock) -> _Answer:
    """The response judged, its body read until the deadline at the latest; closes the response.

    A failure while reading (a body cut short) keeps the status and headers that did arrive.
    """
    status = response.status_code
    retry_after = None
    if status in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), clock.now())
    excerpt: str | None = None
    try:
        with response:
            content, complete = _read_capped(response, deadline)
            excerpt = content.decode("utf-8", errors="replace")
            error = _verdict(response, complete, timeout, success)
    except _FAILURES as exc:
        error = _failure(exc, timeout)
    return _Answer(error, status, tuple(response.headers.items()), retry_after, excerpt)


def _verdict(response: requests.Response, complete: bool, timeout: float, success: str) -> str | None:
    """Why a response read to its end (or to the deadline) is a failure; None if it is a success."""
    status = response.status_code
    if not complete:
        return f"response not finished within the {timeout:g}s deadline"
    if 300 <= status < 400:
        return f"HTTP {status}: redirect to {response.headers.get('Location', '?')} not followed"
    if not is_success(status, success):
        return f"HTTP {status}" + (": only 200 counts as success" if 200 <= status < 300 else "")
    return None


# What sending or reading can raise that makes a failed attempt rather than a crash
# (requests' own errors are OSErrors).
_FAILURES = (RefusedDestination, UnresolvedHost, UnicodeEncodeError, OSError, urllib3.exceptions.HTTPError)


def _failure(exc: Exception, timeout: float) -> str:
    """The attempt's error for one of the _FAILURES."""
    match exc:
        case RefusedDestination():
            return f"refused destination: {exc}"
        case UnresolvedHost():
            return f"connection failed: {exc}"
        case UnicodeEncodeError():
            return "not sent: a header value is not ASCII"  # stored before values were checked
        case requests.Timeout():
            return f"timed out after {timeout:g}s"
        case requests.ConnectionError():
            return f"connection failed: {_reason(exc)}"
        case requests.RequestException() | urllib3.exceptions.HTTPError():
            # Reading the raw stream raises urllib3's own errors (a body cut short).
            return f"request failed: {_reason(exc)}"
        case _:  # an OSError before the request went out: a CA bundle gone since `endpoint add`, say
            return f"not sent: {exc}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date; None if absent or unreadable.

    Capped at the longest wait honoured, so a huge value cannot overflow the date arithmetic after it.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110 dates are GMT
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


# ASCII digits only: str.isdigit() also takes "²", which float() refuses.
_DELAY_SECONDS = re.compile(r"[0-9]+")


def _read_capped(response: requests.Response, deadline: float) -> tuple[bytes, bool]:
    """The first RESPONSE_CAP bytes of the body, and whether the body ended before the deadline.

    The rest is read and dropped: a large answer costs no memory, and an endless
    one fails at the deadline. ``read1`` returns whatever has arrived, so a
    receiver dripping bytes is noticed at the next one rather than after a full buffer.
    """
    raw = response.raw
    sock = getattr(raw.connection, "sock", None)
    kept: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(kept), False
        if sock is not None:
            sock.settimeout(remaining)  # no single read may outlast the deadline
        try:
            chunk = raw.read1(RESPONSE_CAP)
        except urllib3.exceptions.ReadTimeoutError:
            return b"".join(kept), False
        if not chunk:
            return b"".join(kept), True
        if size < RESPONSE_CAP:
            kept.append(chunk[: RESPONSE_CAP - size])
            size += len(kept[-1])


def _reason(exc: BaseException) -> str:
    """The innermost cause, in one line."""
    while exc.__context__ is not None and str(exc.__context__):
        exc = exc.__context__
    return " ".join(str(exc).split()) or type(exc).__name__
