"""``dispatcher endpoint test``: one signed request now, outside the queue.

Every seed system has a "Send Test" button. The request goes out exactly as a
real one would (the endpoint's format, signature and headers) and is logged
as a test attempt, but it never touches the queue, the retry counters or the
endpoint's health.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .config import defaults_from, effective
from .models import Batch, Event, Outcome
from .payloads import check_type, payload_text
from .sending.sender import Sender
from .store import Store

if TYPE_CHECKING:
    from .payloads import Payload

TEST_TYPE = "dispatcher.test"
TEST_PAYLOAD = '{"test": true}'
SHOWN_BODY = 2000  # characters of the response body `endpoint test` prints


def send_test(
    store: Store,
    endpoint_id: int,
    clock: Clock,
    event_type: str = TEST_TYPE,
    payload: Payload = TEST_PAYLOAD,
    sender: Sender | None = None,
) -> Outcome:
    """Send one test event to the endpoint (enabled or not) and log the attempt."""
    endpoint = store.endpoint(endpoint_id)
    settings = effective(endpoint, defaults_from(store.config()))
    event = Event(0, check_type(event_type), payload_text(payload), clock.now())
    # A delivery id of its own, so a receiver that de-duplicates never drops a real batch for it.
    batch = Batch(str(uuid.uuid4()), endpoint_id, (event,), attempts=0)
    own_sender = sender is None
    active = sender or Sender()
    try:
        outcome = active.deliver(endpoint, batch, settings, clock)
    finally:
        if own_sender:
            active.close()
    store.record_test_attempt(endpoint_id, batch.id, outcome)
    return outcome


def describe(outcome: Outcome) -> dict[str, Any]:
    """What `endpoint test` prints: status, time, response headers and the start of the body."""
    return {
        "accepted": outcome.ok,
        "status_code": outcome.status_code,
        "duration_ms": outcome.duration_ms,
        "error": outcome.error,
        "response_headers": dict(outcome.response_headers),
        "response_body": (outcome.response_excerpt or "")[:SHOWN_BODY],
    }
