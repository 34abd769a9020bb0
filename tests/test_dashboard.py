"""The dashboard's figures, after real deliveries to a receiver on 127.0.0.1 under a manual clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Response

from dispatcher import endpoints
from dispatcher.clock import ManualClock
from dispatcher.dashboard import dashboard
from dispatcher.delivery import RunOptions, run
from dispatcher.store import Store

from .process_helpers import add_endpoint, answers, enqueue


def test_no_endpoints_give_no_rows_and_zero_totals(store: Store, clock: ManualClock) -> None:
    board = dashboard(store, clock.now())
    assert board.rows == ()
    assert board.totals.endpoints == 0 and board.totals.waiting == 0
    assert board.totals.oldest_pending_age_s is None and board.totals.next_attempt_at is None


def test_each_endpoint_s_health_and_figures_after_real_deliveries(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    fine = add_endpoint(store, receiver, "/fine", name="crm")
    flaky = add_endpoint(store, receiver, "/flaky")
    gone = add_endpoint(store, receiver, "/gone")
    down = add_endpoint(store, receiver, "/down", retry="fixed:1h")
    receiver.expect_request("/fine").respond_with_data("ok")
    receiver.expect_request("/flaky").respond_with_handler(answers(500))
    receiver.expect_request("/gone").respond_with_handler(answers(410))
    receiver.expect_request("/down").respond_with_handler(lambda request: Response("no", status=503))
    enqueue(db_path, 3)

    run(db_path, RunOptions(time_limit=60), clock=clock)
    board = dashboard(store, clock.now())

    rows = {row.status.endpoint: row for row in board.rows}
    assert [rows[fine].health, rows[flaky].health, rows[gone].health, rows[down].health] == [
        "enabled",
        "enabled",
        "disabled",
        "failing",
    ]
    assert rows[fine].status.name == "crm" and rows[fine].status.url.endswith("/fine")
    figures = {e: (rows[e].delivered_recently, rows[e].failed_recently, rows[e].waiting) for e in rows}
    assert figures == {fine: (3, 0, 0), flaky: (3, 1, 0), gone: (0, 1, 3), down: (0, 1, 3)}
    assert rows[gone].disabled_reason is not None and "410" in rows[gone].disabled_reason
    assert rows[down].disabled_reason is None
    # The failing endpoint's batch waits an hour for its retry; the disabled one has no next attempt.
    assert rows[down].status.next_attempt_at is not None and rows[down].status.next_attempt_at > clock.now()
    assert rows[gone].status.next_attempt_at is None
    totals = board.totals
    assert (totals.endpoints, totals.waiting, totals.delivered_recently, totals.failed_recently) == (4, 6, 6, 3)
    assert totals.health == {"enabled": 2, "failing": 1, "disabled": 1}
    assert totals.next_attempt_at == rows[down].status.next_attempt_at
    assert totals.oldest_pending_age_s == max(
        rows[gone].status.oldest_pending_age_s or 0, rows[down].status.oldest_pending_age_s or 0
    )


def test_delivered_and_failed_count_only_the_last_24_hours(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    add_endpoint(store, receiver)
    receiver.expect_request("/hook").respond_with_handler(answers(500))
    enqueue(db_path, 2)
    run(db_path, RunOptions(time_limit=60), clock=clock)
    assert [(r.delivered_recently, r.failed_recently) for r in dashboard(store, clock.now()).rows] == [(2, 1)]

    clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    enqueue(db_path, 1)
    run(db_path, RunOptions(time_limit=60), clock=clock)

    (row,) = dashboard(store, clock.now()).rows
    assert (row.delivered_recently, row.failed_recently) == (1, 0)
    assert row.status.delivered == 3  # all time, as `status` shows it


def test_a_disabled_endpoint_shows_the_reason_it_was_given(
    store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    endpoints.disable(store, endpoint_id, clock.now())

    (row,) = dashboard(store, clock.now()).rows
    assert row.health == "disabled"
    assert row.disabled_reason == "disabled by user"
