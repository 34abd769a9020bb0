"""The store's views for people on each backend: status, the attempt log's filters and one
attempt's record, after claims and outcomes written as a delivery run writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatcher import endpoints, recovery
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import BUILT_IN
from dispatcher.errors import DispatcherError
from dispatcher.models import Outcome, Selection
from dispatcher.store import Store

DELIVERING = ("insert_events", "claim_batch", "record_outcome", "disable_endpoint")


def test_a_time_window_that_nothing_fits_is_refused(any_store: Store) -> None:
    since, until = from_text("2026-11-22T10:00:00.000Z"), from_text("2026-11-22T09:00:00.000Z")
    with pytest.raises(DispatcherError, match="^invalid time window: since .* must be before until"):
        any_store.attempts(since=since, until=until)
    with pytest.raises(DispatcherError, match="^invalid time window"):
        Selection(since=since, until=until)
    assert any_store.attempts(since=until, until=since) == []


def test_filters_by_an_endpoint_that_does_not_exist_are_refused(any_store: Store) -> None:
    endpoints.add(any_store, "http://127.0.0.1:9/hook")
    for look in (
        lambda: any_store.attempts(99),
        lambda: any_store.dead(99),
        lambda: recovery.count_replayable(any_store, Selection(endpoint_id=99)),
        lambda: recovery.replay(any_store, Selection(endpoint_id=99)),
    ):
        with pytest.raises(DispatcherError, match="^no endpoint 99$"):
            look()


def test_status_counts_each_endpoints_queue_and_health(any_store: Store, clock: ManualClock) -> None:
    sending = endpoints.add(any_store, "http://ada:pw@127.0.0.1:9/hook", batch_size=2, name="crm").id
    failing = endpoints.add(any_store, "http://127.0.0.1:9/down", batch_size=2).id
    queued_at = clock.now()
    any_store.insert_events([("lead.created", "{}", queued_at)] * 5)
    clock.advance(30)
    # `sending`: a batch delivered, a batch in flight, one event not yet in a batch.
    first = any_store.claim_batch(sending, "lease", clock.now(), BUILT_IN)
    assert first is not None
    answered = Outcome(ok=True, started_at=clock.now(), duration_ms=5, status_code=200)
    any_store.record_outcome(first.batch, "lease", answered, None, clock.now())
    assert any_store.claim_batch(sending, "lease", clock.now(), BUILT_IN) is not None
    # `failing`: its first batch refused, waiting a minute for its retry.
    refused = any_store.claim_batch(failing, "other", clock.now(), BUILT_IN)
    assert refused is not None
    failure = Outcome(ok=False, started_at=clock.now(), duration_ms=5, status_code=500, error="HTTP 500")
    retry_at = clock.now() + timedelta(minutes=1)
    any_store.record_outcome(refused.batch, "other", failure, retry_at, clock.now())

    one, other = any_store.status(clock.now())
    assert (one.endpoint, one.name, one.url, one.enabled) == (sending, "crm", "http://127.0.0.1:9/hook", True)
    assert (one.pending, one.in_flight, one.delivered, one.dead) == (1, 2, 2, 0)
    assert (one.consecutive_failures, one.last_success_at, one.last_error) == (0, clock.now(), None)
    assert one.oldest_pending_age_s == 30.0  # the batch in flight holds the oldest events left
    assert (other.pending, other.in_flight, other.delivered, other.consecutive_failures) == (5, 0, 0, 1)
    assert (other.last_error, other.last_error_at, other.next_attempt_at) == ("HTTP 500", clock.now(), retry_at)

    endpoints.disable(any_store, failing, clock.now())
    (_, paused) = any_store.status(clock.now())
    assert (paused.enabled, paused.pending, paused.next_attempt_at) == (False, 5, None)


def test_the_attempt_log_filters_and_one_attempt_in_full(any_store: Store, clock: ManualClock) -> None:
    hook = endpoints.add(any_store, "http://127.0.0.1:9/hook", batch_size=2, max_attempts=1).id
    any_store.insert_events([("lead.created", '{"n": 1}', clock.now()), ("lead.created", "[]", clock.now())])
    any_store.insert_events([("lead.created", "{}", clock.now())])
    outcomes = [
        Outcome(ok=True, started_at=clock.now(), duration_ms=5, status_code=200),
        Outcome(ok=False, started_at=clock.now() + timedelta(seconds=1), duration_ms=5, status_code=500, error="no"),
    ]
    for outcome in outcomes:
        claim = any_store.claim_batch(hook, "lease", outcome.started_at, BUILT_IN)
        assert claim is not None
        any_store.record_outcome(claim.batch, "lease", outcome, None, outcome.started_at)
    sent, refused = any_store.attempts(hook)

    assert (sent.event_ids, sent.ok, refused.event_ids, refused.status_code) == ((1, 2), True, (3,), 500)
    assert any_store.attempts(status="ok") == [sent] and any_store.attempts(status="failed") == [refused]
    assert any_store.attempts(status=500) == [refused] and any_store.attempts(status=404) == []
    assert any_store.attempts(event_id=2) == [sent] and any_store.attempts(event_id=99) == []
    assert any_store.attempts(since=refused.started_at) == [refused]
    assert any_store.attempts(until=refused.started_at) == [sent]
    assert any_store.attempts_page(before=refused.id) == [sent] and any_store.attempts(limit=1) == [refused]

    record = any_store.attempt_record(sent.id)
    assert (record.attempt, record.ok, record.endpoint_format, record.endpoint_signature_scheme) == (
        sent,
        True,
        "batch",
        "mautic",
    )
    assert [(event.id, event.payload) for event in record.events] == [(1, '{"n": 1}'), (2, "[]")]
    with pytest.raises(DispatcherError, match="^no attempt 99$"):
        any_store.attempt_record(99)
