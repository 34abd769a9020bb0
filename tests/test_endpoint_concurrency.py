"""An endpoint's concurrency and rate limit (issue 13), held by real `dispatcher process` processes:
one run, overlapping runs, --processes, a run SIGKILLed, a failure and a Retry-After mid-import.

What is checked is what a receiver on 127.0.0.1 saw: how many requests were in flight at once, when
each started (its time.monotonic()), which batch and events each carried. Where a time is bounded,
the bound is the rule under test (a pause, a spacing), with the tolerance its comment gives, never
a speed the machine must reach.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from dispatcher import endpoints
from dispatcher.clock import ManualClock, SystemClock
from dispatcher.delivery import RunOptions, run
from dispatcher.delivery_rules import lease_seconds
from dispatcher.store import Store

from .helpers import SECRET, Invoke, as_json, assert_one_line_error, status_of
from .process_helpers import Answer, Rule, Seen, TimingReceiver, enqueue, in_flight_at, overlap

Start = Callable[..., subprocess.Popen[str]]

CONCURRENCY = 4
BATCH_SIZE = 5
EVENTS = 200  # 40 batches
RUN = ("--time-limit", "30s")  # ample: a run ends as soon as the queue is empty
# The retry of a refused batch falls due on the dispatcher's wall clock, computed once the answer
# has reached it and stored to the millisecond (cut, not rounded); the receiver times on its own
# monotonic clock. This much earlier than the exact pause still counts as having waited.
EDGE_S = 0.05
# Two workers that claim one after the other send at once: the second's request may reach the
# receiver this much before the first's.
RACE_S = 0.05


def add_endpoint(store: Store, receiver: TimingReceiver, **settings: Any) -> int:
    return endpoints.add(store, receiver.url(), secret=SECRET, batch_size=BATCH_SIZE, **settings).id


def summary_of(process: subprocess.Popen[str]) -> dict[str, Any]:
    """The --json summary of a run, which must have exited 0 with nothing on stderr."""
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, ""), stdout
    summary: dict[str, Any] = json.loads(stdout)
    return summary


def received(receiver: TimingReceiver, status: int | None = None) -> Counter[int]:
    """How often each event id arrived (in requests answered ``status``, or in any)."""
    return Counter(
        event_id for seen in receiver.requests if status is None or seen.status == status for event_id in seen.event_ids
    )


def assert_all_delivered(invoke: Invoke, count: int) -> None:
    (row,) = status_of(invoke)
    assert (row["pending"], row["in_flight"], row["delivered"], row["dead"]) == (0, 0, count, 0)


@pytest.mark.slow
def test_one_run_keeps_the_endpoint_at_its_concurrency_and_delivers_each_event_once(
    db_path: Path, store: Store, invoke: Invoke, timing_receiver: TimingReceiver, start_process: Start
) -> None:
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY)
    ids = enqueue(db_path, EVENTS)
    timing_receiver.rule = lambda seen: Answer(delay=0.1)

    summary = summary_of(start_process(*RUN, "--workers", "8", "--json"))

    # Twice as many workers as slots: the run could go above the limit, and must reach it.
    assert timing_receiver.peak == CONCURRENCY
    assert received(timing_receiver) == Counter(ids)  # each once, none refused
    assert (summary["delivered"], summary["requests"]) == (EVENTS, len(timing_receiver.requests))
    assert_all_delivered(invoke, EVENTS)


@pytest.mark.slow
def test_two_overlapping_runs_share_the_endpoints_slots(
    db_path: Path, store: Store, invoke: Invoke, timing_receiver: TimingReceiver, start_process: Start
) -> None:
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY)
    ids = enqueue(db_path, EVENTS)
    timing_receiver.rule = lambda seen: Answer(delay=0.2)

    # Three workers each: neither run alone can fill the four slots, together they could take six.
    runs = [start_process(*RUN, "--workers", "3", "--json") for _ in range(2)]
    summaries = [summary_of(process) for process in runs]

    assert timing_receiver.peak == CONCURRENCY
    assert received(timing_receiver) == Counter(ids)
    assert sum(summary["requests"] for summary in summaries) == len(timing_receiver.requests)
    assert sum(summary["delivered"] for summary in summaries) == EVENTS
    assert_all_delivered(invoke, EVENTS)


@pytest.mark.slow
@pytest.mark.parametrize("output", [(), ("--json",)], ids=["line", "json"])
def test_worker_processes_share_the_slots_and_print_one_summary(
    db_path: Path,
    store: Store,
    invoke: Invoke,
    timing_receiver: TimingReceiver,
    start_process: Start,
    output: tuple[str, ...],
) -> None:
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY)
    ids = enqueue(db_path, EVENTS)
    timing_receiver.rule = lambda seen: Answer(delay=0.1)

    process = start_process(*RUN, "--processes", "2", "--workers", "4", *output)
    stdout, stderr = process.communicate(timeout=60)

    assert (process.returncode, stderr) == (0, ""), stdout
    assert timing_receiver.peak == CONCURRENCY
    assert received(timing_receiver) == Counter(ids)
    requests = len(timing_receiver.requests)
    if output:
        summary = json.loads(stdout)  # one JSON document, not one per process
        assert (summary["requests"], summary["delivered"], summary["failures"], summary["errors"]) == (
            requests,
            EVENTS,
            0,
            [],
        )
    else:
        assert stdout == f"{requests} requests, {EVENTS} events delivered, 0 failures, 0 retries scheduled, 0 dead\n"
    assert_all_delivered(invoke, EVENTS)


@pytest.mark.slow
@pytest.mark.faults
def test_a_run_killed_with_batches_in_flight_loses_nothing(
    db_path: Path, store: Store, invoke: Invoke, timing_receiver: TimingReceiver, start_process: Start
) -> None:
    timeout = 2.0
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY, timeout=timeout)
    ids = enqueue(db_path, EVENTS)
    release = threading.Event()
    held = range(9, 9 + CONCURRENCY)  # after eight answered: in flight, all four slots, at the kill

    def rule(seen: Seen) -> Answer:
        if seen.number in held:
            release.wait(20)
        return Answer(delay=0.05)

    timing_receiver.rule = rule
    victim = start_process(*RUN, "--workers", "8")
    assert timing_receiver.wait_for(lambda: len(timing_receiver.requests) >= held.stop - 1, 20), "never got there"
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait(10)
    release.set()  # their answers go nowhere
    in_flight = in_flight_at(timing_receiver.requests, killed_at)
    assert [seen.number for seen in in_flight] == list(held)

    # The killed run's leases still hold the four slots: a run now sends nothing.
    assert run(db_path, RunOptions(time_limit=1)).requests == 0
    # Once they have expired (timeout + margin), a later run resends those batches and the rest.
    later = ManualClock(SystemClock().now() + timedelta(seconds=lease_seconds(timeout) + 1))
    summary = run(db_path, RunOptions(time_limit=30), clock=later)

    assert summary.delivered == EVENTS - (held.start - 1) * BATCH_SIZE
    assert set(received(timing_receiver)) == set(ids)  # each at least once
    batches_of: defaultdict[int, set[str]] = defaultdict(set)
    sends: defaultdict[str, list[tuple[int, ...]]] = defaultdict(list)
    for seen in timing_receiver.requests:
        sends[seen.batch_id].append(seen.event_ids)
        for event_id in seen.event_ids:
            batches_of[event_id].add(seen.batch_id)
    assert [event_id for event_id, batches in batches_of.items() if len(batches) > 1] == []
    # The only repeats: each batch in flight at the kill, once more, whole.
    repeated = {batch_id: events for batch_id, events in sends.items() if len(events) > 1}
    assert repeated == {seen.batch_id: [seen.event_ids] * 2 for seen in in_flight}
    assert_all_delivered(invoke, EVENTS)


FIRST_HELD = 9  # requests 1 to 8 first: the endpoint is at full speed when it is refused


def refuse_at_full_slots(receiver: TimingReceiver, refusal: Answer) -> Rule:
    """Requests 9 to 11 are held; the 12th, which can start only once they take three of the four
    slots, gets ``refusal`` at once, and the three held are answered 0.3 s later, in the pause.
    Every other request takes 0.1 s.

    So when ``refusal`` is given all slots are taken, and no run is between a claim and its request:
    a request that starts after it was claimed after the dispatcher had the refusal."""
    refused = FIRST_HELD + CONCURRENCY - 1
    given = threading.Event()

    def rule(seen: Seen) -> Answer:
        if seen.number == refused:
            receiver.wait_for(lambda: receiver.in_flight == CONCURRENCY, 10)
            given.set()
            return refusal
        if FIRST_HELD <= seen.number < refused:
            given.wait(10)
            return Answer(delay=0.3)
        return Answer(delay=0.1)

    return rule


def assert_paused(requests: list[Seen], refused: Seen, pause: float) -> None:
    """No request started in the ``pause`` after ``refused`` was answered but those in flight then;
    its batch's retry went first, whole; then the endpoint went back to all its slots."""
    assert refused.ended is not None
    assert len(in_flight_at(requests, refused.ended)) == CONCURRENCY - 1  # the held three
    after = [seen for seen in requests if seen.started > refused.ended]
    retry = next(seen for seen in after if seen.batch_id == refused.batch_id)
    assert (retry.attempt, retry.event_ids) == (2, refused.event_ids)
    assert retry.started >= refused.ended + pause - EDGE_S
    assert [seen.number for seen in after if seen.started < retry.started - RACE_S] == []
    assert overlap([seen for seen in requests if seen.started >= retry.started]) == CONCURRENCY


@pytest.mark.slow
@pytest.mark.parametrize(
    ("retry", "refusal"),
    [
        ("fixed:2s", Answer(status=500)),
        # Its own retry would come after 0.2 s: the 2 s pause can only be the receiver's Retry-After.
        ("fixed:200ms", Answer(status=429, headers=(("Retry-After", "2"),))),
    ],
    ids=["a-failure-backs-off-the-whole-endpoint", "retry-after-pauses-every-slot"],
)
def test_after_a_refusal_no_new_batch_starts_until_its_retry_has_gone(
    db_path: Path,
    store: Store,
    invoke: Invoke,
    timing_receiver: TimingReceiver,
    start_process: Start,
    retry: str,
    refusal: Answer,
) -> None:
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY, retry=retry)
    ids = enqueue(db_path, EVENTS)
    timing_receiver.rule = refuse_at_full_slots(timing_receiver, refusal)

    summary = summary_of(start_process(*RUN, "--workers", "8", "--json"))

    (refused,) = [seen for seen in timing_receiver.requests if seen.status == refusal.status]
    assert_paused(timing_receiver.requests, refused, 2.0)
    assert received(timing_receiver, status=200) == Counter(ids)
    assert (summary["delivered"], summary["failures"], summary["retries"]) == (EVENTS, 1, 1)
    assert_all_delivered(invoke, EVENTS)


@pytest.mark.slow
def test_a_rate_limit_holds_across_two_overlapping_runs(
    db_path: Path, store: Store, invoke: Invoke, timing_receiver: TimingReceiver, start_process: Start
) -> None:
    """A limit kept per worker or per run (Convoy's frain-dev/convoy#1754, #1927) lets two runs
    start twice as many requests as the endpoint allows."""
    rate, events = 5, 100  # 20 requests: about 4 s
    add_endpoint(store, timing_receiver, concurrency=CONCURRENCY, rate_limit=f"{rate}/s")
    ids = enqueue(db_path, events)
    timing_receiver.rule = lambda seen: Answer(delay=0.5)

    # Two workers each, 0.5 s a request: one run alone can start at most 4 a second and two runs
    # 8, so the limit of 5 binds only on both runs at once, where a limit per run would not.
    runs = [start_process(*RUN, "--workers", "2", "--json") for _ in range(2)]
    summaries = [summary_of(process) for process in runs]

    starts = sorted(seen.started for seen in timing_receiver.requests)
    # The dispatcher spaces the moments it claims; a request reaches the receiver some ms after its
    # claim, not always the same (a worker's first request also opens its database connection and
    # HTTP session; a busy machine adds its own). Windows and gaps are taken this much shorter: a
    # limit kept per run still shows: two runs at 8 a second put 6 starts within 0.65 s.
    slack = 0.1
    busiest = max(sum(start <= other < start + 1 - slack for other in starts) for start in starts)
    assert busiest <= rate, [round(later - earlier, 3) for earlier, later in pairwise(starts)]
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert min(gaps) >= 1 / rate - slack, gaps
    # The limit spaces the starts evenly; it does not hold them back further.
    assert statistics.median(gaps) < 1.5 / rate, gaps
    assert all(summary["requests"] > 0 for summary in summaries), summaries  # both runs did take part
    assert received(timing_receiver) == Counter(ids)
    assert_all_delivered(invoke, events)


@pytest.mark.slow
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_concurrency_one_keeps_strict_order_across_overlapping_runs(
    db_path: Path, store: Store, timing_receiver: TimingReceiver, start_process: Start, order: str
) -> None:
    add_endpoint(store, timing_receiver, concurrency=1, order=order)
    ids = enqueue(db_path, 60)
    timing_receiver.rule = lambda seen: Answer(delay=0.1)

    runs = [start_process(*RUN, "--json") for _ in range(2)]
    summaries = [summary_of(process) for process in runs]

    assert timing_receiver.peak == 1
    arrived = [event_id for seen in timing_receiver.requests for event_id in seen.event_ids]
    assert arrived == (ids if order == "asc" else ids[::-1])  # each once, in order
    assert sum(summary["requests"] for summary in summaries) == len(timing_receiver.requests)


URL = "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("endpoint", "add", URL, "--allow-private", "--concurrency", "0"), "--concurrency"),
        (("endpoint", "add", URL, "--allow-private", "--concurrency", "257"), "--concurrency"),
        (("endpoint", "add", URL, "--allow-private", "--rate-limit", "5/h"), "'5/h'"),
        (("endpoint", "add", URL, "--allow-private", "--rate-limit", "0/s"), "'0/s'"),
        (("process", "--processes", "0"), "--processes"),
    ],
)
def test_bad_concurrency_rate_limit_and_processes_are_refused(
    store: Store, invoke: Invoke, args: tuple[str, ...], named: str
) -> None:
    line = assert_one_line_error(invoke(*args), exit_code=2)
    assert named in line and "No such option" not in line, line
    assert as_json(invoke("endpoint", "list", "--json")) == []
