"""The process loop when receivers fail: retry policies, Retry-After, 410 Gone, auto-disable,
notifications and the maximum age. A real receiver on 127.0.0.1; an injected clock, so a
run's waits for retries pass at once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from dispatcher import endpoints
from dispatcher.clock import ManualClock, from_text, to_text
from dispatcher.config import defaults_from
from dispatcher.delivery import RunOptions, run
from dispatcher.models import Attempt, Channel, DisabledEndpoint
from dispatcher.store import Store

from .process_helpers import add_endpoint, answers, enqueue
from .smtp_inbox import Inbox


def gaps(attempts: list[Attempt]) -> list[float]:
    """Seconds between the starts of consecutive requests."""
    starts = [attempt.started_at for attempt in attempts]
    return [(later - earlier).total_seconds() for earlier, later in zip(starts, starts[1:])]


def cron(db_path: Path, store: Store, clock: ManualClock) -> int:
    """Run `process` as cron would, the clock jumping to each retry's due time; returns the runs made."""
    for runs in range(1, 100):
        run(db_path, RunOptions(time_limit=1), clock=clock)
        due = store.conn.execute("SELECT min(due_at) FROM batches WHERE state = 'pending'").fetchone()[0]
        if due is None or not store.due_endpoints(from_text(due), defaults_from(store.config())):
            return runs
        clock.advance((from_text(due) - clock.now()).total_seconds())
    raise AssertionError("still retrying after 100 runs")


def test_the_lead_management_policy_retries_after_1_2_4_8_16_seconds(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="exponential:1s", max_attempts=6)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)

    summary = run(db_path, RunOptions(time_limit=120), clock=clock)

    attempts = store.attempts(endpoint_id)
    assert len(attempts) == 6  # the first try and five retries, then dead
    for waited, delay in zip(gaps(attempts), [1, 2, 4, 8, 16]):
        assert delay <= waited <= delay * 1.1 + 0.3
    assert summary.dead == 1


def test_the_leasefetcher_policy_retries_every_5_minutes_and_disables_after_20(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="fixed:5m", max_attempts=20, disable_after=20)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)

    assert cron(db_path, store, clock) == 20

    attempts = store.attempts(endpoint_id)
    assert len(attempts) == 20
    assert all(300 <= waited <= 330.3 for waited in gaps(attempts))
    endpoint = store.endpoint(endpoint_id)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "20 consecutive failed requests, the last: HTTP 500"
    assert endpoint.disabled_at is not None and endpoint.disabled_at >= attempts[-1].started_at


def test_the_leasecloud_policy_gives_up_seven_days_after_the_first_attempt(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(
        store, receiver, retry="exponential:5m", max_attempts=12, max_age=7 * 86400, success="200"
    )
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("", status=201)  # only 200 counts

    assert cron(db_path, store, clock) == 11

    attempts = store.attempts(endpoint_id)
    assert len(attempts) == 11  # the 12th would fall after 7 days
    span = (attempts[-1].started_at - attempts[0].started_at).total_seconds()
    assert span <= 7 * 86400
    assert store.status(clock.now())[0].dead == 1


def test_retry_after_on_a_429_is_honoured(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    enqueue(db_path, 1)
    slow_down = iter([Response("busy", status=429, headers={"Retry-After": "120"})])
    receiver.expect_request("/hook").respond_with_handler(lambda request: next(slow_down, Response("ok")))

    run(db_path, RunOptions(time_limit=600), clock=clock)

    first, second = store.attempts(endpoint_id)
    assert (first.status_code, second.status_code) == (429, 200)
    assert 120 <= gaps([first, second])[0] <= 120.3  # not the schedule's 5 s


def test_410_gone_disables_at_once_and_keeps_the_deliveries(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    enqueue(db_path, 3)
    receiver.expect_request("/hook").respond_with_handler(answers(410))

    summary = run(db_path, RunOptions(time_limit=600), clock=clock)

    assert len(receiver.log) == 1 and summary.failures == 1
    endpoint = store.endpoint(endpoint_id)
    assert endpoint.enabled is False and "410" in (endpoint.disabled_reason or "")
    assert store.status(clock.now())[0].pending == 3
    # Enabled again, the batch waiting for its retry goes out at once, not in 5 s.
    endpoints.enable(store, endpoint_id, clock.now())
    start = clock.now()
    run(db_path, RunOptions(time_limit=60), clock=clock)
    assert store.status(clock.now())[0].delivered == 3
    retried = store.attempts(endpoint_id)[-1]
    assert (retried.started_at - start).total_seconds() < 1


def test_a_batch_waiting_for_its_retry_is_cut_to_a_smaller_size(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="fixed:1s")
    ids = enqueue(db_path, 3)
    receiver.expect_request("/hook").respond_with_handler(answers(500))
    run(db_path, RunOptions(time_limit=0.5), clock=clock)  # one batch of 3, waiting for its retry
    first_id = receiver.log[0][0].headers["X-Webhook-Delivery-Id"]

    # The receiver turns out to want one bare payload per request.
    endpoints.update(store, endpoint_id, format="raw")
    run(db_path, RunOptions(time_limit=60), clock=clock)

    sent = [request for request, _ in receiver.log[1:]]
    assert [json.loads(request.get_data()) for request in sent] == [{"n": 0}, {"n": 1}, {"n": 2}]
    # The retry keeps its delivery id, so the receiver can still de-duplicate it.
    assert sent[0].headers["X-Webhook-Delivery-Id"] == first_id
    assert len({request.headers["X-Webhook-Delivery-Id"] for request in sent}) == 3
    assert store.status(clock.now())[0].delivered == len(ids)


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        ("signature_scheme = 'standard'", "not sent: the standard scheme needs"),  # and a whsec_ secret
        ("""headers = '[["X-Price", "5 €"]]'""", "not sent: a header value is not ASCII"),
    ],
)
def test_a_batch_that_cannot_be_sent_as_configured_fails_like_a_request(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock, edit: str, error: str
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="fixed:1m")
    enqueue(db_path, 1)
    # Edited by hand around `update`, which would refuse it.
    store.db.execute(f"UPDATE endpoints SET {edit} WHERE id = ?", (endpoint_id,))

    summary = run(db_path, RunOptions(time_limit=30), clock=clock)

    assert receiver.log == []
    (attempt,) = store.attempts(endpoint_id)  # one failed attempt, then the retry waits its minute
    assert (attempt.error or "").startswith(error)
    assert summary.retries == 1 and store.endpoint(endpoint_id).consecutive_failures == 1


def test_an_endpoint_whose_row_cannot_be_read_is_left_for_the_next_run(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    broken = add_endpoint(store, receiver, path="/broken")
    add_endpoint(store, receiver, path="/working")
    enqueue(db_path, 2)
    store.db.execute("UPDATE endpoints SET retry = 'someday' WHERE id = ?", (broken,))
    receiver.expect_request("/working").respond_with_data("ok")

    summary = run(db_path, RunOptions(time_limit=2), clock=clock)

    # Reported once, not retried in a tight loop for the whole run; the other endpoint is served.
    (error,) = [error for error in summary.errors if f"endpoint {broken}" in error]
    assert "invalid retry policy 'someday'" in error
    assert summary.delivered == 2 and len(receiver.log) == 1


def test_a_refused_destination_is_a_failed_attempt_that_counts_toward_disabling(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    store.set_config("allow_private", "false")  # the guard as shipped
    endpoint_id = add_endpoint(store, receiver, retry="fixed:1s", disable_after=2)
    enqueue(db_path, 1)

    summary = run(db_path, RunOptions(time_limit=60), clock=clock)

    assert receiver.log == [] and summary.failures == 2
    attempts = store.attempts(endpoint_id)
    assert [attempt.error for attempt in attempts] == [
        "refused destination: 127.0.0.1 is a loopback address; allow it with --allow-private or the "
        "allow_networks setting"
    ] * 2
    endpoint = store.endpoint(endpoint_id)
    assert endpoint.enabled is False and "refused destination" in (endpoint.disabled_reason or "")
    # Allowed for this endpoint, and enabled again, it goes out.
    receiver.expect_request("/hook").respond_with_data("ok")
    endpoints.update(store, endpoint_id, allow_private=True)
    endpoints.enable(store, endpoint_id, clock.now())
    run(db_path, RunOptions(time_limit=60), clock=clock)
    assert store.status(clock.now())[0].delivered == 1


def test_rows_written_by_hand_for_an_unknown_endpoint_or_event_are_ignored(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver)
    enqueue(db_path, 2)
    receiver.expect_request("/hook").respond_with_data("ok")
    # Plain sqlite3 leaves foreign keys off, so nothing stops these.
    with closing(sqlite3.connect(db_path)) as raw, raw:
        raw.execute("INSERT INTO pending (endpoint_id, event_id) VALUES (99, 1)")
        raw.execute("INSERT INTO pending (endpoint_id, event_id) VALUES (?, 12345)", (endpoint_id,))

    summary = run(db_path, RunOptions(time_limit=5), clock=clock)

    assert (summary.delivered, summary.errors) == (2, [])
    assert [event["id"] for event in json.loads(receiver.log[0][0].get_data())["events"]] == [1, 2]
    assert store.due_endpoints(clock.now(), defaults_from(store.config())) == []


def test_a_success_resets_the_failure_count(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="fixed:1s", disable_after=3)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_handler(answers(500, 500, 200, 500, 500, 200))
    run(db_path, RunOptions(time_limit=60), clock=clock)
    enqueue(db_path, 1)
    run(db_path, RunOptions(time_limit=60), clock=clock)
    endpoint = store.endpoint(endpoint_id)
    assert endpoint.enabled is True and endpoint.consecutive_failures == 0
    assert len(receiver.log) == 6


def test_a_disabled_endpoint_keeps_queueing_and_sends_nothing(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    endpoint_id = add_endpoint(store, receiver, retry="fixed:1s", disable_after=2)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=503)
    run(db_path, RunOptions(time_limit=60), clock=clock)
    assert store.endpoint(endpoint_id).enabled is False
    enqueue(db_path, 4)
    run(db_path, RunOptions(time_limit=60), clock=clock)
    assert len(receiver.log) == 2
    assert store.status(clock.now())[0].pending == 5


def test_the_notify_command_gets_the_notice_on_stdin(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock, tmp_path: Path
) -> None:
    notice = tmp_path / "notice.json"
    endpoint_id = add_endpoint(
        store, receiver, "/hook", retry="fixed:1s", disable_after=2, notify_command=f"cat > {notice}"
    )
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)

    summary = run(db_path, RunOptions(time_limit=60), clock=clock)

    assert summary.errors == []
    sent = json.loads(notice.read_text())
    assert sent == {
        "event": "disabled",
        "endpoint_id": endpoint_id,
        "url": receiver.url_for("/hook"),
        "reason": "2 consecutive failed requests, the last: HTTP 500",
        "at": to_text(store.endpoint(endpoint_id).disabled_at),
    }


def test_a_failing_notice_when_configured(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock, tmp_path: Path
) -> None:
    store.set_config("notify_failing_after", "2")
    store.set_config("notify_command", f"cat >> {tmp_path / 'notices'}; echo >> {tmp_path / 'notices'}")
    add_endpoint(store, receiver, retry="fixed:1s", disable_after=4)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)

    run(db_path, RunOptions(time_limit=60), clock=clock)

    notices = [json.loads(line) for line in (tmp_path / "notices").read_text().splitlines() if line]
    assert [(notice["event"], notice["reason"]) for notice in notices] == [
        ("failing", "2 consecutive failed requests"),
        ("disabled", "4 consecutive failed requests, the last: HTTP 500"),
    ]


def test_a_broken_notify_command_is_reported_by_the_run(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    add_endpoint(store, receiver, disable_after=1, notify_command="echo no mail server >&2; exit 3")
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("down", status=500)
    summary = run(db_path, RunOptions(time_limit=1), clock=clock)
    assert summary.errors == ["endpoint 1: notify command exited 3: no mail server"]


def test_the_email_goes_to_a_real_smtp_server(
    db_path: Path,
    store: Store,
    receiver: HTTPServer,
    clock: ManualClock,
    smtp_server: Callable[..., tuple[Inbox, int]],
) -> None:
    inbox, port = smtp_server()
    for name, value in {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_from": "dispatcher@example.com",
        "smtp_to": "ops@example.com, dev@example.com",
    }.items():
        store.set_config(name, value)
    endpoint_id = add_endpoint(store, receiver, disable_after=1)
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("gone", status=410)

    summary = run(db_path, RunOptions(time_limit=1), clock=clock)

    assert summary.errors == []
    [message] = inbox.messages
    assert message["To"] == "ops@example.com, dev@example.com"
    assert f"endpoint {endpoint_id}" in message["Subject"] and "disabled" in message["Subject"]
    assert "410" in message.get_body().get_content()  # type: ignore[union-attr]


def test_process_prunes_by_the_retention_setting_once_per_run(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    store.set_config("retention", "1h")
    endpoint_id = add_endpoint(store, receiver)
    enqueue(db_path, 3)
    receiver.expect_request("/hook").respond_with_data("ok")
    run(db_path, RunOptions(time_limit=5), clock=clock)
    assert store.status(clock.now())[0].delivered == 3
    clock.advance(3601)
    run(db_path, RunOptions(time_limit=5), clock=clock)
    assert store.status(clock.now())[0].delivered == 0
    assert store.attempts(endpoint_id) == []
    assert store.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


@pytest.mark.parametrize(
    ("notify_command", "channels", "notified", "errors"),
    [
        (None, (), (), []),
        ("cat > /dev/null", ("command",), ("command",), []),
        ("exit 3", ("command",), (), ["endpoint 1: notify command exited 3"]),
    ],
)
def test_the_summary_names_each_endpoint_the_run_disabled_and_who_was_told(
    db_path: Path,
    store: Store,
    receiver: HTTPServer,
    clock: ManualClock,
    notify_command: str | None,
    channels: tuple[Channel, ...],
    notified: tuple[Channel, ...],
    errors: list[str],
) -> None:
    url = receiver.url_for("/hook").replace("http://", "http://crm:hunter2@")
    endpoint_id = endpoints.add(store, url, secret="s" * 32, name="crm", notify_command=notify_command).id
    enqueue(db_path, 1)
    receiver.expect_request("/hook").respond_with_data("gone", status=410)

    summary = run(db_path, RunOptions(time_limit=1), clock=clock)

    reason = "HTTP 410 Gone: the receiver says this endpoint no longer exists"
    assert summary.disabled == [
        DisabledEndpoint(endpoint_id, "crm", receiver.url_for("/hook"), reason, channels, notified)
    ]
    assert summary.errors == errors
    assert summary.line().endswith(", 1 endpoint disabled")
