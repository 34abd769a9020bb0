"""Plain helpers for the store's claim and record tests: an endpoint nobody sends to, a claim at the
test clock's time, and the outcomes a request can come to."""

from __future__ import annotations

from dispatcher import endpoints
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import defaults_from
from dispatcher.models import Outcome
from dispatcher.store import Store
from dispatcher.store.types import Claim


def add(store: Store, **options: object) -> int:
    """An endpoint the tests claim for and record by hand: no request is ever sent to it."""
    return endpoints.add(store, "http://127.0.0.1:9/hook", secret="s", **options).id  # type: ignore[arg-type]


def claim(store: Store, endpoint_id: int, lease: str, clock: ManualClock) -> Claim | None:
    return store.claim_batch(endpoint_id, lease, clock.now(), defaults_from(store.config()))


def event_ids(claimed: Claim | None) -> list[int]:
    assert claimed is not None
    return [event.id for event in claimed.batch.events]


def ok() -> Outcome:
    return Outcome(ok=True, started_at=from_text("2026-11-22T10:00:00.000Z"), duration_ms=1, status_code=200)


def failed(retry_after: float | None = None) -> Outcome:
    return Outcome(
        ok=False,
        started_at=from_text("2026-11-22T10:00:00.000Z"),
        duration_ms=1,
        status_code=503,
        retry_after=retry_after,
    )
