"""The cron run: serve every endpoint with due work until the time limit.

The main thread finds due endpoints and hands each to a worker from a bounded
pool; a worker leases its endpoint and sends its batches one at a time, in
order, until nothing is due, a request fails, or the time limit comes. So a
slow or hanging endpoint ties up one worker, never the others, and an
endpoint is served by one worker of one run at a time even when cron runs
overlap.

A stop (the CLI sets it on Ctrl-C or SIGTERM) lets the requests in flight
finish and be recorded, and starts no other: each endpoint's lease is released
as its request ends, so the next run goes on at once.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .clock import Clock, SystemClock, from_text, to_text
from .models import Batch, DisabledEndpoint, Endpoint, Outcome, Recorded, RunSummary, Settings
from .notify import Notice, mail_from_config, notify
from .recovery import prune
from .retry import next_attempt_at
from .sending import Sender
from .settings import config_value, defaults_from
from .store import Store

# How often an idle or waiting run looks for new work (new events, retries).
POLL_S = 0.25
# While other endpoints wait for a worker, a worker keeps an endpoint this long at least: long
# enough that handing over costs little, short enough that none waits long.
TURN_S = 0.1
# The most a run spends pruning; what is left goes at the next run.
PRUNE_BUDGET_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    time_limit: float = 50.0  # seconds; no request starts after it
    workers: int = 8  # see the README, "Performance": idle ones cost nothing
    endpoint_id: int | None = None  # serve only this endpoint


@dataclass
class _Worker:
    """What one pool thread keeps between endpoints: its connection and its session."""

    store: Store
    sender: Sender = field(default_factory=Sender)


def run(
    path: str | Path,
    options: RunOptions = RunOptions(),
    clock: Clock | None = None,
    rng: random.Random | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Deliver until nothing is due, the time limit, or ``stop`` is set (then the summary says
    ``interrupted``). A file that does not exist is refused (NotFound), not created."""
    return _Run(path, options, clock or SystemClock(), rng or random.Random(), stop or threading.Event()).run()


class _Run:
    def __init__(
        self, path: str | Path, options: RunOptions, clock: Clock, rng: random.Random, stop: threading.Event
    ) -> None:
        self.path = path
        self.options = options
        self.clock = clock
        self.rng = rng
        self.stop = stop
        self.writers = threading.Lock()
        # A missing file is a mistyped path, not an empty queue: refused, not created.
        self.store = Store.open(path, self.writers, create=False)
        try:
            self.store.require_endpoint(options.endpoint_id)
        except BaseException:
            self.store.close()
            raise
        config = self.store.config()
        self.defaults: Settings = defaults_from(config)
        self.failing_after: int = config_value(config, "notify_failing_after")
        self.mail = mail_from_config(config)
        self.retention: float | None = config_value(config, "retention")
        self.deadline = clock.now() + timedelta(seconds=options.time_limit)
        self.local = threading.local()
        self.workers: list[_Worker] = []
        # Due endpoints that found no free worker at the last look: as many workers whose turn is
        # over hand theirs back, one each, so the rest keep going.
        self.starved = 0
        self.last_served: dict[int, float] = {}  # endpoint id -> time.monotonic() of its last turn
        self.workers_lock = threading.Lock()
        # Endpoints not served again by this run, only by the next, rather than at once in a tight
        # loop: their serving raised, or they were listed as due yet had nothing to claim (a row
        # edited by hand, or another run that took them in between).
        self.passed_over: set[int] = set()

    def run(self) -> RunSummary:
        summary = RunSummary()
        serving: dict[Future[RunSummary], int] = {}
        try:
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="dispatcher") as pool:
                while True:
                    now = self.clock.now()
                    stopping = self.stop.is_set()
                    waiting = [] if stopping else self._due(now, exclude=set(serving.values()))
                    if now < self.deadline and not stopping:
                        # Those served longest ago first, so that with more endpoints
                        # than workers each gets its turn, batch by batch.
                        ready = sorted(
                            (endpoint_id for endpoint_id, due_at in waiting if due_at <= now),
                            key=lambda endpoint_id: self.last_served.get(endpoint_id, 0.0),
                        )
                        free = self.options.workers - len(serving)
                        with self.workers_lock:
                            self.starved = max(0, len(ready) - free)
                        for endpoint_id in ready[:free]:
                            serving[pool.submit(self._serve, endpoint_id)] = endpoint_id
                    next_due = min((due_at for _, due_at in waiting if due_at > now), default=None)
                    # Wake for whichever comes first: a worker finishing, the next
                    # retry falling due, or a look for newly queued events.
                    pause = POLL_S if next_due is None else min(POLL_S, (next_due - now).total_seconds())
                    if serving:
                        done, _ = wait(serving, timeout=pause, return_when=FIRST_COMPLETED)
                        for future in done:
                            del serving[future]
                            summary.add(future.result())
                    elif stopping or next_due is None or next_due >= self.deadline:
                        break  # stopped, or nothing more can fall due before the limit
                    else:
                        self.clock.sleep(pause, wake=self.stop)
            if not self.stop.is_set():
                self._prune(summary)
            summary.interrupted = self.stop.is_set()
        finally:
            for worker in self.workers:
                worker.sender.close()
                worker.store.close()
            self.store.close()
        return summary

    def _prune(self, summary: RunSummary) -> None:
        """Once per run, after delivering: drop what the retention setting no longer keeps."""
        if self.retention is None or self.options.endpoint_id is not None:
            return
        try:
            prune(self.store, self.retention, self.clock.now(), budget=PRUNE_BUDGET_S)
        except sqlite3.Error as error:
            summary.errors.append(f"pruning: {error}")

    def _due(self, now: datetime, exclude: set[int]) -> list[tuple[int, datetime]]:
        only = self.options.endpoint_id
        return [
            (endpoint_id, from_text(due_at))
            for endpoint_id, due_at in self.store.due_endpoints(now)
            if endpoint_id not in exclude
            and endpoint_id not in self.passed_over
            and (only is None or endpoint_id == only)
        ]

    def _retry_at(self, batch: Batch, settings: Settings, outcome: Outcome, now: datetime) -> datetime | None:
        return next_attempt_at(
            batch.attempts + 1,
            settings.max_attempts,
            now,
            self.rng.random,
            settings.retry,
            first_attempt_at=from_text(batch.first_attempt_at or outcome.started_at),
            max_age=settings.max_age,
            retry_after=None if outcome.retry_after is None else now + timedelta(seconds=outcome.retry_after),
        )

    def _tell(
        self, endpoint: Endpoint, settings: Settings, recorded: Recorded, now: datetime, summary: RunSummary
    ) -> None:
        """Notify people when a failure disabled the endpoint, or made it count as failing."""
        if recorded.disabled_reason:
            event, reason = "disabled", recorded.disabled_reason
        elif self.failing_after and recorded.consecutive_failures == self.failing_after:
            event, reason = "failing", f"{recorded.consecutive_failures} consecutive failed requests"
        else:
            return
        notice = Notice(event, endpoint.id, endpoint.url, reason, to_text(now))
        results = notify(notice, settings.notify_command, self.mail)
        summary.errors.extend(f"endpoint {endpoint.id}: {error}" for error in results.values() if error)
        if event == "disabled":
            notified = tuple(channel for channel, error in results.items() if error is None)
            summary.disabled.append(
                DisabledEndpoint(endpoint.id, endpoint.name, notice.url, reason, tuple(results), notified)
            )

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self.local, "worker", None)
        if worker is None:
            worker = _Worker(Store.open(self.path, self.writers))
            self.local.worker = worker
            with self.workers_lock:
                self.workers.append(worker)
        return worker

    def _hand_over(self, turn_ends: float) -> bool:
        """Whether this worker's turn is over and an endpoint is still waiting for a worker."""
        if time.monotonic() < turn_ends:
            return False
        with self.workers_lock:
            if self.starved <= 0:
                return False
            self.starved -= 1
            return True

    def _serve(self, endpoint_id: int) -> RunSummary:
        """Send an endpoint's due batches in order until one fails, none is due, the run is stopped,
        or its turn is over while another endpoint waits for a worker (then it goes back in line,
        behind those)."""
        summary = RunSummary()
        if self.stop.is_set():
            return summary  # handed over just before the stop
        lease_id = uuid.uuid4().hex
        worker = self._worker()
        turn_ends = time.monotonic() + TURN_S
        try:
            claim = worker.store.claim_batch(endpoint_id, lease_id, self.clock.now(), self.defaults)
            if claim is None:
                self.passed_over.add(endpoint_id)
            while claim is not None:
                if self.stop.is_set():  # since the claim: its batch waits for the next run
                    worker.store.release_lease(endpoint_id, lease_id)
                    break
                endpoint, settings, batch = claim
                outcome = worker.sender.deliver(endpoint, batch, settings, self.clock)
                now = self.clock.now()
                retry_at = None if outcome.ok else self._retry_at(batch, settings, outcome, now)
                if outcome.ok and now < self.deadline and not self.stop.is_set() and not self._hand_over(turn_ends):
                    recorded, claim = worker.store.record_and_claim(
                        batch, lease_id, outcome, retry_at, now, settings.disable_after, self.defaults
                    )
                else:
                    recorded, claim = (
                        worker.store.record_outcome(batch, lease_id, outcome, retry_at, now, settings.disable_after),
                        None,
                    )
                    if recorded is not None and recorded.state == "delivered":
                        worker.store.release_lease(endpoint_id, lease_id)
                summary.requests += 1
                if recorded is None:
                    summary.failures += 1
                    summary.errors.append(f"endpoint {endpoint_id}: lease lost; outcome not recorded")
                elif recorded.state == "delivered":
                    summary.delivered += len(batch.events)
                else:
                    summary.failures += 1
                    if recorded.state == "pending":
                        summary.retries += 1
                    else:
                        summary.dead += len(batch.events)
                    self._tell(endpoint, settings, recorded, now, summary)
            self.last_served[endpoint_id] = time.monotonic()
        except Exception as error:  # a fault of the dispatcher's own, not the receiver's
            summary.errors.append(f"endpoint {endpoint_id}: {type(error).__name__}: {error}")
            self.passed_over.add(endpoint_id)
            try:
                worker.store.release_lease(endpoint_id, lease_id)
            except Exception:
                pass  # the lease expires by itself
        return summary
