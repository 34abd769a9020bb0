"""The dispatcher's data, as small frozen dataclasses; times as aware datetimes in UTC. No behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .clock import Time, check_window
from .rate_limits import RateLimit
from .retry import RetryPolicy
from .sending.reach import Reach

Order = Literal["asc", "desc"]
# How people hear of a disabled or failing endpoint (see dispatcher.notify).
Channel = Literal["command", "email"]


@dataclass(frozen=True)
class Signing:
    """How an endpoint's requests are signed; see :mod:`dispatcher.signing` for the schemes."""

    scheme: str = "mautic"
    header: str | None = None  # None: the scheme's own header name
    prefix: str = ""  # put before the signature value (GitHub's "sha256=")


@dataclass(frozen=True)
class RetiredSecret:
    """A replaced secret, still signed with (by the schemes that allow several) until ``until``."""

    secret: str
    until: Time


@dataclass(frozen=True)
class DeliverySettings:
    """Delivery settings after the endpoint > config > built-in chain is applied."""

    order: Order
    batch_size: int
    timeout: float  # seconds: the whole request's deadline
    max_attempts: int  # counts the first try
    retry: RetryPolicy
    max_age: float | None  # seconds after a batch's first attempt; None: no limit
    disable_after: int  # consecutive failed requests; 0: never disable
    notify_command: str | None
    concurrency: int  # batches in flight at once; 1: one at a time, in order
    rate_limit: RateLimit | None  # None: requests start as fast as they go
    reach: Reach  # the addresses requests may go to


@dataclass(frozen=True)
class Endpoint:
    """A receiver and its settings (each declared in dispatcher.endpoint_settings.SETTINGS), then its state."""

    id: int
    name: str | None
    description: str | None  # for people: what the endpoint is for
    url: str
    secret: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    disabled_at: Time | None
    # The endpoint's own overrides; None means "use the global setting".
    order: Order | None
    batch_size: int | None
    timeout: float | None
    max_attempts: int | None
    retry: RetryPolicy | None
    max_age: float | None
    disable_after: int | None
    notify_command: str | None
    concurrency: int | None
    rate_limit: RateLimit | None
    # The wire contract.
    format: str  # batch, mautic or raw (see dispatcher.sending.formats)
    signing: Signing
    headers: tuple[tuple[str, str], ...]  # fixed headers, in the case they are sent
    success: str  # "2xx", or "200" for receivers that count only 200
    allow_private: bool | None  # None: the global allow_private setting
    ca_bundle: str | None  # a private CA's certificates for https; None: the usual ones
    retired_secrets: tuple[RetiredSecret, ...]  # newest first
    consecutive_failures: int
    last_success_at: Time | None
    last_error: str | None
    created_at: Time


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    payload: str  # the JSON text exactly as the producer stored it
    created_at: Time


@dataclass(frozen=True)
class Batch:
    """One request's worth of events for one endpoint, fixed at its first attempt (only cut
    shorter if the endpoint's batch size shrinks while it waits for a retry)."""

    id: str
    endpoint_id: int
    events: tuple[Event, ...]
    attempts: int  # requests already made for this batch
    first_attempt_at: Time | None = None  # None until its first request


Headers = tuple[tuple[str, str], ...]  # (name, value) in order, names in the case they were sent


@dataclass(frozen=True)
class SentRequest:
    """A request as the attempt log keeps it: everything but the body, secrets redacted."""

    line: str  # "POST <url>", the URL without its user:password@
    headers: Headers  # as they went out; Authorization and Proxy-Authorization values redacted
    body_sha256: str  # the body itself is rebuilt from the batch's events when asked for


@dataclass(frozen=True)
class Outcome:
    """What one request came to. ``ok`` only for a 2xx within the deadline."""

    ok: bool
    started_at: Time
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    response_headers: Headers = ()
    retry_after: float | None = None  # seconds a 429 or 503 asked us to wait
    request: SentRequest | None = None  # None: nothing went out
    body_format: str | None = None  # the endpoint's then; None for a bare Sender.post
    signature_scheme: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What recording one request's outcome did to its batch and its endpoint."""

    state: str  # the batch's new state: pending, delivered or dead
    consecutive_failures: int
    disabled_reason: str | None = None  # set when this failure disabled the endpoint


@dataclass(frozen=True)
class Attempt:
    id: int
    endpoint: int
    batch_id: str
    event_ids: tuple[int, ...]
    started_at: Time
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    test: bool  # an `endpoint test` request, outside the queue
    ok: bool  # what the endpoint counts as success (a 2xx, or only 200), within the deadline


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt as the log keeps it, with what its body is rebuilt from.

    The request fields are None in attempts made before they were kept (schema 6).
    """

    attempt: Attempt
    ok: bool
    body_format: str | None
    signature_scheme: str | None
    request: SentRequest | None
    response_headers: Headers | None
    response_headers_cut: int  # headers the response had beyond what was kept
    events: tuple[Event, ...]  # the batch's events still stored, in sending order
    endpoint_format: str  # the endpoint's now
    endpoint_signature_scheme: str


@dataclass(frozen=True)
class DeadLetter:
    """An event that one endpoint will not get: its batch used up its attempts."""

    endpoint: int
    event_id: int
    type: str
    attempts: int
    last_error: str | None
    died_at: Time


@dataclass(frozen=True)
class Selection:
    """Which finished deliveries `replay` puts back; None matches anything."""

    event_id: int | None = None
    endpoint_id: int | None = None
    dead_only: bool = False
    since: Time | None = None  # the event's queue time, inclusive
    until: Time | None = None  # exclusive
    event_type: str | None = None  # a GLOB pattern, as endpoints subscribe: "lead.*"

    def __post_init__(self) -> None:
        check_window(self.since, self.until)

    def is_empty(self) -> bool:
        return self == Selection()


DeliveryState = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True)
class EventDelivery:
    """Where one event stands with one endpoint it was queued for."""

    endpoint: int
    # pending: queued, or in a batch waiting for its first or next request; delivered; dead.
    state: DeliveryState
    batch_id: str | None  # None while it waits to be put in a batch
    attempts: tuple[Attempt, ...]  # its batch's requests, oldest first


@dataclass(frozen=True)
class EventView:
    event: Event
    deliveries: tuple[EventDelivery, ...]  # by endpoint id


@dataclass
class Pruned:
    """What one prune removed."""

    batches: int = 0
    deliveries: int = 0
    attempts: int = 0
    events: int = 0

    def add(self, other: Pruned) -> None:
        self.batches += other.batches
        self.deliveries += other.deliveries
        self.attempts += other.attempts
        self.events += other.events


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: int
    name: str | None
    url: str
    enabled: bool
    pending: int
    in_flight: int
    delivered: int
    dead: int
    consecutive_failures: int
    last_success_at: Time | None
    last_error: str | None  # kept after a success: consecutive_failures says whether it still fails
    last_error_at: Time | None
    oldest_pending_age_s: float | None
    # When the next request is due: its waiting batch's retry time, or now when events wait for
    # a first try; None when nothing waits or the endpoint is disabled.
    next_attempt_at: Time | None


@dataclass(frozen=True)
class DisabledEndpoint:
    """An endpoint a run disabled: it needs a person, who may not have been told."""

    endpoint: int
    name: str | None
    url: str  # without a login
    reason: str
    channels: tuple[Channel, ...]  # those configured, each tried
    notified: tuple[Channel, ...]  # those that took the notice

    def line(self) -> str:
        """The line ``process`` prints for it, even with ``--quiet``."""
        name = f" ({self.name})" if self.name else ""
        if self.notified:
            told = f"notified by {' and '.join(self.notified)}"
        elif self.channels:
            told = "no one was notified: the notification failed (see the Error lines)"
        else:
            told = "no one was notified: set smtp_host and smtp_to, or --notify-command"
        return (
            f"endpoint {self.endpoint}{name} {self.url} disabled: {self.reason}; "
            f"re-enable it with: dispatcher endpoint enable {self.endpoint}; {told}"
        )


@dataclass
class RunSummary:
    """What one ``process`` run did, added up across its workers."""

    requests: int = 0
    delivered: int = 0  # events
    failures: int = 0  # requests
    retries: int = 0  # batches rescheduled
    dead: int = 0  # events
    interrupted: bool = False  # stopped before its work or its time limit was done
    disabled: list[DisabledEndpoint] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the dispatcher's own faults

    def line(self) -> str:
        """The one line ``process`` prints."""
        disabled = f", {counted(len(self.disabled), 'endpoint')} disabled" if self.disabled else ""
        return (
            f"{counted(self.requests, 'request')}, {counted(self.delivered, 'event')} delivered, "
            f"{counted(self.failures, 'failure')}, {counted(self.retries, 'retry', 'retries')} scheduled, "
            f"{self.dead} dead{disabled}{', interrupted' if self.interrupted else ''}"
        )

    def add(self, other: RunSummary) -> None:
        self.requests += other.requests
        self.delivered += other.delivered
        self.failures += other.failures
        self.retries += other.retries
        self.dead += other.dead
        self.disabled.extend(other.disabled)
        self.errors.extend(other.errors)


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``1 event``, ``2 events``: every count a person reads goes through here."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
