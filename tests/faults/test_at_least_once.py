"""Fault injection: the README's delivery promise under a receiver failing at random and runs SIGKILLed.

2,000 events for 5 endpoints (two of them with several batches in flight at once), inserted by two
producers while overlapping `dispatcher process` runs deliver them to a receiver that fails 30 % of
requests (5xx, resets, stalls past the timeout) and while some of those runs are SIGKILLed at random
moments. At the end, after one clean run has
drained everything, every event is delivered to every endpoint or dead with its attempts recorded;
none is missing, and the only duplicates are the ones at-least-once allows: a batch resent after a
killed run lost its outcome, or after the receiver took the events in and then failed the request.

Real parts only: the SQLite file, the console script in subprocesses, a receiver on 127.0.0.1. The
one stand-in is for time: see :func:`expire_leases`.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

import dispatcher
from dispatcher import endpoints
from dispatcher.clock import SystemClock, to_text
from dispatcher.store import Store

from ..helpers import SECRET, dispatcher_command
from .flaky import FAULTS, FlakyReceiver, Request

pytestmark = pytest.mark.faults

SEED = 20261122
EVENTS = 2000
ENDPOINTS = 5
BATCH_SIZE = 25
# 30 % of requests fail, so about 1 batch in 37 fails three times running and dies.
MAX_ATTEMPTS = 3
RETRY = "fixed:200ms"
# Generous for 127.0.0.1 on a busy machine, so that an answer the receiver gives at once is not
# turned into a timeout; its stalls go well past it.
TIMEOUT_S = 1.0
STALL_S = TIMEOUT_S + 0.5
ROUNDS = 7
# Batches each endpoint may have in flight: the last two send several at once, shared by the runs.
CONCURRENCY = (1, 1, 1, 3, 3)


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    with FlakyReceiver(ENDPOINTS, SEED, SECRET, STALL_S) as server:
        yield server


def produce_by_insert(db_path: Path, numbers: range, rng: random.Random) -> None:
    """One plain INSERT per event, as an application in any language does (the producer contract)."""
    with closing(sqlite3.connect(db_path, timeout=30, isolation_level=None)) as conn:
        for n in numbers:
            conn.execute("INSERT INTO events (type, payload) VALUES (?, ?)", ("lead.created", json.dumps({"n": n})))
            time.sleep(rng.uniform(0, 0.01))


def produce_by_queue(db_path: Path, numbers: range, rng: random.Random) -> None:
    """Events through the Python API in bursts of 1 to 40: `enqueue` for one, `enqueue_many` for more."""
    with dispatcher.open(db_path) as queue:
        start = numbers.start
        while start < numbers.stop:
            burst = range(start, min(start + rng.randint(1, 40), numbers.stop))
            if len(burst) == 1:
                queue.enqueue("deal.won", {"n": burst[0]})
            else:
                queue.enqueue_many("deal.won", [{"n": n} for n in burst])
            start = burst.stop
            time.sleep(rng.uniform(0.05, 0.25))


def start_run(db_path: Path, time_limit: float, log: Path) -> subprocess.Popen[bytes]:
    """`dispatcher process` as cron starts it; its output goes to a file, so no pipe can fill up."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*dispatcher_command(), "--db", str(db_path), "process", "--time-limit", f"{time_limit:.2f}s"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@dataclass
class Round:
    runs: int = 0
    kills: int = 0
    failed: tuple[str, ...] = ()  # the output of runs that were not killed yet did not exit 0


def chaos_round(db_path: Path, rng: random.Random, logs: Path) -> Round:
    """One to three overlapping runs with short time limits; most are SIGKILLed at a random moment,
    which may fall before their first request, mid-request, between requests or after they ended.
    Returns once all have exited, so no dispatcher process is alive in between rounds."""
    plans = []
    for _ in range(rng.randint(1, 3)):
        start, limit = rng.uniform(0, 0.6), rng.uniform(0.5, 2.0)
        kill_at = start + rng.uniform(0.1, limit + 0.5) if rng.random() < 0.75 else None
        plans.append((start, limit, kill_at))
    timeline = sorted(
        [(start, "start", n) for n, (start, _, _) in enumerate(plans)]
        + [(kill_at, "kill", n) for n, (_, _, kill_at) in enumerate(plans) if kill_at is not None]
    )
    began = time.monotonic()
    runs: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    for at, what, n in timeline:
        time.sleep(max(0.0, began + at - time.monotonic()))
        if what == "start":
            log = logs / f"run-{len(list(logs.iterdir()))}.log"
            runs[n] = start_run(db_path, plans[n][1], log), log
        elif runs[n][0].poll() is None:
            runs[n][0].send_signal(signal.SIGKILL)
    result = Round(runs=len(runs))
    for process, log in runs.values():
        process.wait(60)
        if process.returncode == -signal.SIGKILL:
            result.kills += 1
        elif process.returncode != 0:
            result.failed += (log.read_text(),)
    return result


def expire_leases(db_path: Path) -> int:
    """Make the leases that killed runs left behind run out now; returns how many there were.

    A killed run's leases hold the batches it had in flight for 2 x timeout + LEASE_MARGIN_S (32 s here), after
    which the next run resends the batch it had in flight. Waiting that out after every kill would
    make this suite minutes long, so the test moves the expiry to now instead, which is what the
    passing of those 32 s does to the row and nothing more. It is only called between rounds, once
    every run has exited: a lease still held then can only be a killed run's, so a live run's
    lease is never cut short (that would make two live runs send the same batch, a duplicate the
    product never causes by itself).
    """
    with closing(sqlite3.connect(db_path, timeout=30)) as conn, conn:
        cursor = conn.execute(
            "UPDATE batches SET lease_expires_at = ? "
            "WHERE state = 'pending' AND lease_id IS NOT NULL AND lease_expires_at > ?",
            (to_text(SystemClock().now()),) * 2,
        )
        return cursor.rowcount


def open_work(store: Store) -> int:
    """Deliveries still queued or in a batch waiting for its retry."""
    (count,) = store.conn.execute(
        "SELECT (SELECT count(*) FROM pending) "
        "+ (SELECT coalesce(sum(json_array_length(event_ids)), 0) FROM batches WHERE state = 'pending')"
    ).fetchone()
    return int(count)


def test_every_event_is_delivered_or_dead_despite_failures_and_kills(
    db_path: Path, store: Store, receiver: FlakyReceiver, tmp_path: Path
) -> None:
    began = time.monotonic()
    store.set_config("allow_private", "true")  # the receiver is on 127.0.0.1
    endpoint_ids = [
        endpoints.add(
            store,
            receiver.url(n),
            secret=SECRET,
            timeout=TIMEOUT_S,
            retry=RETRY,
            max_attempts=MAX_ATTEMPTS,
            disable_after=0,  # a long run of failures must not stop the deliveries
            batch_size=BATCH_SIZE,
            concurrency=CONCURRENCY[n],
        ).id
        for n in range(ENDPOINTS)
    ]
    rng = random.Random(SEED)
    logs = tmp_path / "logs"
    logs.mkdir()

    # Producers insert while the runs deliver and die; rounds go on after they have finished.
    half = EVENTS // 2
    kills = runs = stale_leases = 0
    with ThreadPoolExecutor(2) as producers:
        produced = [
            producers.submit(produce_by_insert, db_path, range(half), random.Random(SEED + 1)),
            producers.submit(produce_by_queue, db_path, range(half, EVENTS), random.Random(SEED + 2)),
        ]
        for _ in range(ROUNDS):
            round_ = chaos_round(db_path, rng, logs)
            assert not round_.failed, round_.failed
            expired = expire_leases(db_path)
            assert round_.kills or not expired, "a run that was not killed left a lease behind"
            kills, runs, stale_leases = kills + round_.kills, runs + round_.runs, stale_leases + expired
        for future in produced:
            future.result()

    # A clean run (the receiver still failing at random) finishes what is left: it waits for
    # retries falling due before its limit, so one is enough unless something is wrong.
    final = subprocess.run(
        [*dispatcher_command(), "--db", str(db_path), "process", "--time-limit", "60s"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    runs += 1
    assert final.returncode == 0, final.stdout + final.stderr
    assert open_work(store) == 0, final.stdout

    figures = account(store, receiver, endpoint_ids)
    print(
        f"\nfaults: events={EVENTS} requests={len(receiver.requests)} kills={kills} "
        f"duplicates={figures.duplicates} lost={len(figures.lost)}"
    )
    answers = Counter(request.answer for request in receiver.requests)
    print(
        f"faults: endpoints={ENDPOINTS} runs={runs} stale_leases={stale_leases} "
        f"interrupted={figures.interrupted} late={figures.late} "
        f"duplicates_after_kill={figures.after_ok} duplicates_after_fault={figures.after_fault} "
        f"dead={figures.dead} answers={dict(sorted(answers.items()))} seconds={time.monotonic() - began:.1f}"
    )

    assert receiver.problems == []
    assert figures.lost == [], f"{len(figures.lost)} lost, the first: {figures.lost[:5]}"
    for status in store.status(SystemClock().now()):
        assert (status.enabled, status.pending, status.in_flight) == (True, 0, 0)
        assert status.delivered + status.dead == EVENTS
    # A resend carries the same batch id, and a batch is recorded delivered at most once.
    assert figures.split == [], f"events received under two batch ids: {figures.split[:5]}"
    assert figures.delivered_twice == []
    # A killed run can leave unrecorded at most the requests it had on the way: its endpoints' concurrency.
    assert figures.interrupted <= kills * sum(CONCURRENCY)
    # A duplicate after a 200 needs a 200 whose success went unrecorded: a killed run's request,
    # or an answer that arrived after the deadline (a timeout for the dispatcher). Each carried at
    # most a batch of events. Duplicates after a crash or stall are at-least-once doing its job.
    assert figures.after_ok <= (figures.interrupted + figures.late) * BATCH_SIZE
    # The faults did happen, and were seen as failures of their kind.
    assert kills > 0 and figures.dead > 0
    assert all(answers[fault] > 0 for fault in FAULTS), answers
    assert all(figures.errors[kind] > 0 for kind in ("HTTP 5", "timed out", "connection failed")), figures.errors


@dataclass
class Figures:
    lost: list[tuple[int, int, str]]  # (endpoint, event, state) neither received nor dead with its attempts
    duplicates: int  # extra receptions of an (endpoint, event) pair
    after_ok: int  # ... after one the receiver answered 200 to
    after_fault: int  # ... after one it took in and then reset or stalled
    interrupted: int  # requests the receiver saw whose outcome no attempt records: killed runs'
    late: int  # timeouts recorded beyond the receiver's stalls: answers that came too late
    dead: int  # dead (endpoint, event) pairs
    split: list[tuple[int, int]]  # pairs received under more than one batch id
    delivered_twice: list[str]  # batches with two successful attempts recorded
    errors: Counter[str]  # recorded failures by kind


def account(store: Store, receiver: FlakyReceiver, endpoint_ids: list[int]) -> Figures:
    """Hold what the receiver saw against what the database says, pair by pair and batch by batch."""
    event_ids = [event_id for (event_id,) in store.conn.execute("SELECT id FROM events")]
    numbers = sorted(json.loads(payload)["n"] for (payload,) in store.conn.execute("SELECT payload FROM events"))
    assert numbers == list(range(EVENTS)), "an event the producers inserted is missing or doubled"
    states = {
        (endpoint_id, event_id): (batch_id, state)
        for endpoint_id, event_id, batch_id, state in store.conn.execute(
            "SELECT d.endpoint_id, d.event_id, b.id, b.state "
            "FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id"
        )
    }
    attempts = [attempt for endpoint_id in endpoint_ids for attempt in store.attempts(endpoint_id, limit=10**6)]
    recorded = Counter(attempt.batch_id for attempt in attempts)
    recorded_ok = Counter(attempt.batch_id for attempt in attempts if attempt.error is None)
    timeouts = Counter(attempt.batch_id for attempt in attempts if "timed out" in (attempt.error or ""))
    dead = {(letter.endpoint, letter.event_id): letter for letter in store.dead()}

    seen = Counter(request.batch_id for request in receiver.requests)
    stalls = Counter(request.batch_id for request in receiver.requests if request.answer == "stall")
    taken: defaultdict[tuple[int, int], list[Request]] = defaultdict(list)  # in order of arrival
    for request in receiver.requests:
        if request.taken_in:
            for event_id in request.event_ids:
                taken[(endpoint_ids[request.endpoint], event_id)].append(request)

    lost = []
    for endpoint_id in endpoint_ids:
        for event_id in event_ids:
            pair = (endpoint_id, event_id)
            batch_id, state = states.get(pair, ("", "pending"))
            received = any(request.answer == "ok" for request in taken[pair])
            letter = dead.get(pair)
            if state == "delivered" and received:
                continue
            if (
                state == "dead"
                and letter is not None
                and letter.attempts == recorded[batch_id] == MAX_ATTEMPTS
                and recorded_ok[batch_id] == 0
            ):
                continue
            lost.append((endpoint_id, event_id, state))

    after_ok = after_fault = 0
    for requests in taken.values():
        for earlier in requests[:-1]:
            if earlier.answer == "ok":
                after_ok += 1
            else:
                after_fault += 1
    errors: Counter[str] = Counter()
    for attempt in attempts:
        for kind in ("HTTP 5", "timed out", "connection failed", "request failed"):
            if attempt.error and attempt.error.startswith(kind):
                errors[kind] += 1
    return Figures(
        lost=lost,
        duplicates=after_ok + after_fault,
        after_ok=after_ok,
        after_fault=after_fault,
        interrupted=sum(max(0, count - recorded[batch_id]) for batch_id, count in seen.items()),
        late=sum(max(0, count - stalls[batch_id]) for batch_id, count in timeouts.items()),
        dead=len(dead),
        split=[pair for pair, requests in taken.items() if len({request.batch_id for request in requests}) > 1],
        delivered_twice=[batch_id for batch_id, count in recorded_ok.items() if count > 1],
        errors=errors,
    )
