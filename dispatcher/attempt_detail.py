"""One attempt's whole story: the request as it went out and the response as it came back.

The log keeps a request's line and headers but not its body: that is rebuilt
from the batch's stored events in the format the attempt used, and checked
against the SHA-256 of what was sent. What is printed by `dispatcher attempts
show` is :class:`AttemptDetail`, as an HTTP API would return it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from .clock import Time
from .errors import DispatcherError
from .models import AttemptRecord, Batch, Headers
from .sending.formats import render
from .store import Store

# exact: rebuilt, and the same bytes as sent; unverified: rebuilt, but the attempt predates the
# checksum; differs: rebuilt, but not what was sent; missing: events pruned (or the batch gone);
# not kept: a test request's event is not stored; not sent: nothing went out.
BodyState = Literal["exact", "unverified", "differs", "missing", "not kept", "not sent"]


@dataclass(frozen=True)
class RequestDetail:
    line: str | None  # "POST <url>", the URL without its login; None: not recorded, or not sent
    headers: Headers | None  # as sent, Authorization redacted
    body: str | None  # rebuilt; None when it cannot be
    body_sha256: str | None  # of the body as sent; None: not recorded, or not sent
    body_state: BodyState
    format: str | None  # the body format and signature scheme used; None: not recorded
    signature_scheme: str | None


@dataclass(frozen=True)
class ResponseDetail:
    status_code: int
    headers: Headers | None  # None: not recorded
    headers_cut: int  # headers beyond the 16 KiB kept
    body_excerpt: str | None  # the first 64 KiB


@dataclass(frozen=True)
class AttemptDetail:
    id: int
    endpoint: int
    batch_id: str
    event_ids: tuple[int, ...]
    test: bool
    started_at: Time
    duration_ms: int
    ok: bool
    error: str | None
    recorded: bool  # False for attempts made before requests and responses were kept
    request: RequestDetail
    response: ResponseDetail | None  # None: no response came
    notes: tuple[str, ...]  # what to know before reading the rest, in sentences


def attempt_detail(store: Store, attempt_id: int) -> AttemptDetail:
    """Everything the log tells of attempt ``attempt_id``; NotFound if there is none."""
    record = store.attempt_record(attempt_id)
    attempt = record.attempt
    notes: list[str] = []
    recorded = record.body_format is not None
    if not recorded:
        notes.append("made before requests were recorded: its request line and headers are not recorded")
    body, state = _body(record, notes)
    notes += _changes(record)
    response = None
    if attempt.status_code is not None:
        response = ResponseDetail(
            attempt.status_code, record.response_headers, record.response_headers_cut, attempt.response_excerpt
        )
        if record.response_headers_cut:
            notes.append(f"{record.response_headers_cut} response header(s) beyond the 16 KiB kept are not shown")
    return AttemptDetail(
        id=attempt.id,
        endpoint=attempt.endpoint,
        batch_id=attempt.batch_id,
        event_ids=attempt.event_ids,
        test=attempt.test,
        started_at=attempt.started_at,
        duration_ms=attempt.duration_ms,
        ok=record.ok,
        error=attempt.error,
        recorded=recorded,
        request=RequestDetail(
            line=record.request.line if record.request else None,
            headers=record.request.headers if record.request else None,
            body=body,
            body_sha256=record.request.body_sha256 if record.request else None,
            body_state=state,
            format=record.body_format,
            signature_scheme=record.signature_scheme,
        ),
        response=response,
        notes=tuple(notes),
    )


def _body(record: AttemptRecord, notes: list[str]) -> tuple[str | None, BodyState]:
    """The request body rebuilt from the batch's events, and how far it can be trusted."""
    attempt = record.attempt
    if record.body_format is not None and record.request is None:
        notes.append("not sent: nothing went out (the error says why)")
        return None, "not sent"
    if attempt.test:
        notes.append("test request: its event is not stored, so the body is not kept")
        return None, "not kept"
    stored = {event.id for event in record.events}
    missing = [event_id for event_id in attempt.event_ids if event_id not in stored]
    if missing or not attempt.event_ids:
        gone = f"event(s) {', '.join(map(str, missing))} pruned" if missing else "its batch is gone"
        notes.append(f"the body cannot be rebuilt: {gone}")
        return None, "missing"
    format = record.body_format or record.endpoint_format
    try:
        body = render(Batch(attempt.batch_id, attempt.endpoint, record.events, 0), format)
    except DispatcherError as error:
        notes.append(f"the body cannot be rebuilt in the {format} format: {error}")
        return None, "missing"
    if record.request is None:
        notes.append(
            f"body rebuilt from the batch's stored events in the endpoint's current format, {format}; "
            "what was sent is not recorded"
        )
        return body.decode(), "unverified"
    if hashlib.sha256(body).hexdigest() != record.request.body_sha256:
        notes.append(
            f"body rebuilt from the batch's stored events in the {format} format, but it is not what was sent "
            "(the SHA-256 differs): the batch was cut shorter or its events were changed since"
        )
        return body.decode(), "differs"
    notes.append(f"body rebuilt from the batch's stored events in the {format} format: the same bytes as sent")
    return body.decode(), "exact"


def _changes(record: AttemptRecord) -> list[str]:
    """How the endpoint's wire contract has changed since the attempt."""
    changes = []
    if record.body_format is not None and record.body_format != record.endpoint_format:
        changes.append(
            f"the endpoint's format has changed since: {record.body_format} then, {record.endpoint_format} now "
            f"(the body is shown as sent, in {record.body_format})"
        )
    if record.signature_scheme is not None and record.signature_scheme != record.endpoint_signature_scheme:
        changes.append(
            f"the endpoint's signature scheme has changed since: {record.signature_scheme} then, "
            f"{record.endpoint_signature_scheme} now (the headers are shown as sent)"
        )
    return changes
