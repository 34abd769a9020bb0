"""The cron run: serve every endpoint with due work until the time limit.

The main thread finds due endpoints and hands each to a worker from a bounded
pool; a worker leases its endpoint and sends its batches one at a time, in
order, until nothing is due, a request fails, or the time limit comes. So a
slow or hanging endpoint ties up one worker, never the others, and an
endpoint is served by one worker of one run at a time even when cron runs
overlap.
"""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .clock import Clock, SystemClock, from_text
from .models import RunSummary, Settings
from .retry import next_attempt_at
from .sending import Sender
from .settings import defaults_from
from .store import Store

# How often an idle or waiting run looks for new work (new events, retries).
POLL_S = 0.25


@dataclass(frozen=True)
class RunOptions:
    time_limit: float = 50.0  # seconds; no request starts after it
    workers: int = 4
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
) -> RunSummary:
    return _Run(path, options, clock or SystemClock(), rng or random.Random()).run()


class _Run:
    def __init__(self, path: str | Path, options: RunOptions, clock: Clock, rng: random.Random) -> None:
        self.path = path
        self.options = options
        self.clock = clock
        self.rng = rng
        self.store = Store.open(path)
        self.defaults: Settings = defaults_from(self.store.config())
        self.deadline = clock.now() + timedelta(seconds=options.time_limit)
        self.local = threading.local()
        self.workers: list[_Worker] = []
        self.workers_lock = threading.Lock()

    def run(self) -> RunSummary:
        summary = RunSummary()
        serving: dict[Future[RunSummary], int] = {}
        try:
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="dispatcher") as pool:
                while True:
                    now = self.clock.now()
                    waiting = self._due(now, exclude=set(serving.values()))
                    if now < self.deadline:
                        ready = [endpoint_id for endpoint_id, due_at in waiting if due_at <= now]
                        for endpoint_id in ready[: self.options.workers - len(serving)]:
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
                    elif next_due is None or next_due >= self.deadline:
                        break  # nothing more can fall due before the limit
                    else:
                        self.clock.sleep(pause)
        finally:
            for worker in self.workers:
                worker.sender.close()
                worker.store.close()
            self.store.close()
        return summary

    def _due(self, now: datetime, exclude: set[int]) -> list[tuple[int, datetime]]:
        only = self.options.endpoint_id
        return [
            (endpoint_id, from_text(due_at))
            for endpoint_id, due_at in self.store.due_endpoints(now)
            if endpoint_id not in exclude and (only is None or endpoint_id == only)
        ]

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self.local, "worker", None)
        if worker is None:
            worker = _Worker(Store.open(self.path))
            self.local.worker = worker
            with self.workers_lock:
                self.workers.append(worker)
        return worker

    def _serve(self, endpoint_id: int) -> RunSummary:
        """Send an endpoint's due batches in order until one fails or none is due."""
        summary = RunSummary()
        lease_id = uuid.uuid4().hex
        worker = self._worker()
        try:
            while self.clock.now() < self.deadline:
                claim = worker.store.claim_batch(endpoint_id, lease_id, self.clock.now(), self.defaults)
                if claim is None:
                    return summary
                endpoint, settings, batch = claim
                outcome = worker.sender.deliver(endpoint, batch, settings.timeout, self.clock)
                now = self.clock.now()
                retry_at = None
                if not outcome.ok:
                    retry_at = next_attempt_at(batch.attempts + 1, settings.max_attempts, now, self.rng.random)
                state = worker.store.record_outcome(batch, lease_id, outcome, retry_at, now)
                summary.requests += 1
                if state == "delivered":
                    summary.delivered += len(batch.events)
                    continue
                summary.failures += 1
                if state == "pending":
                    summary.retries += 1
                elif state == "dead":
                    summary.dead += len(batch.events)
                else:
                    summary.errors.append(f"endpoint {endpoint_id}: lease lost; outcome not recorded")
                return summary
            worker.store.release_lease(endpoint_id, lease_id)
        except Exception as error:  # a fault of the dispatcher's own, not the receiver's
            summary.errors.append(f"endpoint {endpoint_id}: {type(error).__name__}: {error}")
            try:
                worker.store.release_lease(endpoint_id, lease_id)
            except Exception:
                pass  # the lease expires by itself
        return summary
