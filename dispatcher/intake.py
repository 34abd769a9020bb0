"""Events arriving over the HTTP API: read from the request body by `enqueue`'s rules, queued all
or none, and at most once per idempotency key.

A payload is stored as the client wrote it (see payloads.py): its text is cut out of the request
body, never parsed and written again, so the receiver gets the producer's bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .access_models import IdempotencyKey, StoredAnswer
from .errors import DispatcherError
from .json_spans import Member, items, members
from .payloads import check_type, parsed_payload_text
from .store import Store

# Events in one bulk request: a bigger import is `dispatcher import`'s job.
MAX_BULK = 1000
# How long an idempotency key's answer is kept for a repeat (as Stripe keeps them).
KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class NewEvent:
    type: str
    payload: str  # the JSON text as the client wrote it


def read_event(body: bytes) -> NewEvent:
    """The event of a ``{type, payload}`` request body; DispatcherError says what is wrong."""
    return _event(members(_text(body)), "")


def read_bulk(body: bytes) -> list[NewEvent]:
    """The events of a ``{events: [{type, payload}, ...]}`` body; an error names the item's index."""
    fields = members(_text(body))
    _only(fields, ("events",), "")
    if "events" not in fields:
        raise DispatcherError("events: missing")
    listed = items(fields["events"].text) if isinstance(fields["events"].value, list) else None
    if not listed:
        raise DispatcherError("events: must be a non-empty array of {type, payload}")
    if len(listed) > MAX_BULK:
        raise DispatcherError(f"events: {len(listed):,} events, over the limit of {MAX_BULK:,} per request")
    return [_event(_object(item, f"events.{index}"), f"events.{index}.") for index, item in enumerate(listed)]


def request_sha256(method: str, path: str, body: bytes) -> str:
    """What a repeat must match: the same call with the same body."""
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


def idempotency_key(api_key_id: int, key: str, request_sha256: str) -> IdempotencyKey:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DispatcherError(f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} printable characters")
    return IdempotencyKey(api_key_id, key, request_sha256)


def submit(
    store: Store,
    events: list[NewEvent],
    now: datetime,
    answer: Callable[[list[int]], StoredAnswer],
    once: IdempotencyKey | None = None,
) -> tuple[StoredAnswer, bool]:
    """Queue ``events`` in one transaction and return ``answer(their ids)``, and whether that is the
    answer kept for a repeat of the request ``once`` names (then nothing is queued)."""
    rows = [(event.type, event.payload) for event in events]
    return store.insert_events_once(rows, now, answer, once, now - KEPT_FOR)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise DispatcherError("invalid request body: not UTF-8") from None


def _only(fields: dict[str, Member], names: tuple[str, ...], where: str) -> None:
    for name in fields:
        if name not in names:
            raise DispatcherError(f"{where}{name}: unknown field (expected {', '.join(names)})")


def _object(item: Member, where: str) -> dict[str, Member]:
    if not isinstance(item.value, dict):
        raise DispatcherError(f"{where}: must be an object {{type, payload}}")
    return members(item.text)


def _event(fields: dict[str, Member], where: str) -> NewEvent:
    _only(fields, ("type", "payload"), where)
    for name in ("type", "payload"):
        if name not in fields:
            raise DispatcherError(f"{where}{name}: missing")
    try:
        type_ = check_type(fields["type"].value)
    except DispatcherError as error:
        raise DispatcherError(f"{where}type: {error}") from None
    try:
        payload = parsed_payload_text(fields["payload"].value, fields["payload"].text)
    except DispatcherError as error:
        raise DispatcherError(f"{where}payload: {error}") from None
    return NewEvent(type_, payload)
