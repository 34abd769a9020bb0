"""The figures the dashboard and /metrics read, counted by the store on each backend from
outcomes written as a delivery run writes them."""

from __future__ import annotations

from datetime import timedelta

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.config import BUILT_IN
from dispatcher.figures import AttemptCount, DeliveryCount, DurationHistogram, RecentFigures
from dispatcher.models import Outcome
from dispatcher.store import Store


def test_figures_count_deliveries_and_requests_but_not_test_sends(any_store: Store, clock: ManualClock) -> None:
    fine = endpoints.add(any_store, "http://127.0.0.1:9/fine", batch_size=2).id
    dead = endpoints.add(any_store, "http://127.0.0.1:9/dead", max_attempts=1).id
    down = endpoints.add(any_store, "http://127.0.0.1:9/down").id
    any_store.insert_events([("lead.created", "{}", clock.now())] * 2)
    started = clock.now()
    for endpoint_id, outcome, next_due in (
        (fine, Outcome(ok=True, started_at=started, duration_ms=100, status_code=200), None),
        (dead, Outcome(ok=False, started_at=started, duration_ms=2000, status_code=503, error="HTTP 503"), None),
        (down, Outcome(ok=False, started_at=started, duration_ms=300, error="connection failed"), started),
    ):
        claim = any_store.claim_batch(endpoint_id, "lease", started, BUILT_IN)
        assert claim is not None
        any_store.record_outcome(claim.batch, "lease", outcome, next_due, started)
    any_store.record_test_attempt(fine, "test-1", Outcome(ok=False, started_at=started, duration_ms=9000))

    assert any_store.recent_figures(started) == [
        RecentFigures(fine, None, 2, 0),
        RecentFigures(dead, None, 0, 1),
        RecentFigures(down, None, 0, 1),
    ]
    later = started + timedelta(seconds=1)
    assert [(row.delivered, row.failed) for row in any_store.recent_figures(later)] == [(0, 0)] * 3
    assert any_store.delivery_counts() == [DeliveryCount("dead", "5xx", 2), DeliveryCount("delivered", "2xx", 2)]
    assert any_store.attempt_counts() == [
        AttemptCount("failed", "5xx", 1),
        AttemptCount("failed", "none", 1),
        AttemptCount("ok", "2xx", 1),
    ]
    assert any_store.request_durations([0.1, 0.25, 5.0]) == DurationHistogram(
        buckets=((0.1, 1), (0.25, 1), (5.0, 3)), count=3, sum_seconds=2.4
    )
