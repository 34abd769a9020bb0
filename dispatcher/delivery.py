"""The cron run: serve every endpoint with due work until the time limit.

The main thread finds due endpoints, claims a batch of each and hands it to a
worker from a bounded pool; the worker sends it and then the endpoint's next
batches, one at a time, until nothing is due, a request fails, or the time
limit comes. So a slow or hanging endpoint ties up its workers, never the
others. An endpoint with a concurrency above 1 gets up to that many workers,
each on a batch leased to it: the places in flight are counted in the
database, so overlapping runs (and the processes of ``--processes``) share them.

A stop (the CLI sets it on Ctrl-C or SIGTERM) lets the requests in flight
finish and be recorded, and starts no other: each batch claimed but not sent
is given back, so the next run goes on at once.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .clock import Clock, SystemClock, to_text
from .config import config_value, defaults_from
from .errors import DispatcherError
from .models import Batch, DeliverySettings, DisabledEndpoint, Endpoint, Outcome, Recorded, RunSummary, counted
from .notify import Notice, mail_from_config, notify
from .recovery import prune
from .retry import next_attempt_at
from .sending.sender import Sender
from .store import Location, Store, open_store
from .store.errors import StoreError

if TYPE_CHECKING:
    from .store.types import Claim, Due

# How often an idle or waiting run looks for new work (new events, retries).
POLL_S = 0.25
# While other endpoints wait for a worker, a worker keeps an endpoint this long at least: long
# enough that handing over costs little, short enough that none waits long.
TURN_S = 0.1
# An endpoint listed as due that then had nothing to claim (another run took the place in between)
# is looked at again after this long, not in a tight loop; the run goes on meanwhile.
REST_S = POLL_S
# The most a run spends pruning; what is left goes at the next run.
PRUNE_BUDGET_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    time_limit: float = 50.0  # seconds; no request starts after it
    # Requests in flight at most, across the endpoints (README, "Performance"): idle ones cost nothing.
    workers: int = 8
    endpoint_id: int | None = None  # serve only this endpoint
    # Processes sharing the workers, to use more than one core (README, "Order or throughput").
    processes: int = 1


@dataclass
class _Worker:
    """What one pool thread keeps between endpoints: its connection and its session."""

    store: Store
    sender: Sender = field(default_factory=Sender)


def run(
    path: str | Path | Location,
    options: RunOptions = RunOptions(),
    clock: Clock | None = None,
    rng: random.Random | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Deliver until nothing is due, the time limit, or ``stop`` is set (then the summary says
    ``interrupted``). A file that does not exist is refused (NotFound), not created.

    With ``options.processes`` above 1 the other processes keep the system clock (see
    :mod:`dispatcher.delivery_processes`)."""
    if not 1 <= options.processes <= options.workers:
        raise DispatcherError(
            f"cannot run {counted(options.processes, 'process', 'processes')} with "
            f"{counted(options.workers, 'worker')}: each process needs a worker at least"
        )
    stop = stop or threading.Event()
    this = _Run(path, options, clock or SystemClock(), rng or random.Random(), stop)
    if options.processes == 1:
        return this.run()
    from .delivery_processes import alongside  # multiprocessing is loaded only by the runs that use it

    with alongside(path, options, stop) as others:
        summary = this.run(last=False)
    for other in others.summaries:
        summary.add(other)
    this.finish(summary)
    return summary


class _Run:
    def __init__(
        self, path: str | Path | Location, options: RunOptions, clock: Clock, rng: random.Random, stop: threading.Event
    ) -> None:
        self.path = path
        self.options = options
        self.clock = clock
        self.rng = rng
        self.stop = stop
        self.workers_count = workers_of(options)[0]
        # A missing file is a mistyped path, not an empty queue: refused, not created.
        self.store = open_store(path, create=False)
        try:
            self.store.require_endpoint(options.endpoint_id)
        except BaseException:
            self.store.close()
            raise
        config = self.store.config()
        self.defaults: DeliverySettings = defaults_from(config)
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
        # Endpoints this run leaves to the next: serving them raised.
        self.passed_over: set[int] = set()
        self.resting: dict[int, datetime] = {}  # endpoint id -> when it may be tried again

    def run(self, last: bool = True) -> RunSummary:
        """This process's run; when it is the ``last`` to end, it also finishes the whole (see :meth:`finish`)."""
        summary = RunSummary()
        serving: dict[Future[RunSummary], int] = {}
        try:
            with ThreadPoolExecutor(self.workers_count, thread_name_prefix="dispatcher") as pool:
                while True:
                    now = self.clock.now()
                    stopping = self.stop.is_set()
                    waiting = [] if stopping else self._due(now)
                    if now < self.deadline and not stopping:
                        self._start(pool, serving, [due for due in waiting if due.due_at <= now], summary)
                    # Rested again: an endpoint whose claim just lost a race (another run started its
                    # request a moment earlier, its rate limit then said wait) is due after its rest.
                    next_due = min((due_at for due_at in map(self._after_rest, waiting) if due_at > now), default=None)
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
        finally:
            for worker in self.workers:
                worker.sender.close()
                worker.store.close()
        if last:
            self.finish(summary)
        return summary

    def finish(self, summary: RunSummary) -> None:
        """Once per run, after delivering: drop what the retention setting no longer keeps (unless
        another run, on any host, is pruning right now), and say whether the run was stopped."""
        try:
            if not self.stop.is_set() and self.retention is not None and self.options.endpoint_id is None:
                with self.store.chore("prune") as ours:
                    if ours:
                        prune(self.store, self.retention, self.clock.now(), budget=PRUNE_BUDGET_S)
        except StoreError as error:
            summary.errors.append(f"pruning: {error}")
        finally:
            self.store.close()
        summary.interrupted = self.stop.is_set()

    def _due(self, now: datetime) -> list[Due]:
        only = self.options.endpoint_id
        return [
            dataclasses.replace(due, due_at=self._after_rest(due))
            for due in self.store.due_endpoints(now, self.defaults)
            if due.endpoint_id not in self.passed_over and (only is None or due.endpoint_id == only)
        ]

    def _after_rest(self, due: Due) -> datetime:
        """When ``due`` may be claimed: when it falls due, and not before a rest this run gave it."""
        return max(due.due_at, self.resting.get(due.endpoint_id, due.due_at))

    def _start(
        self, pool: ThreadPoolExecutor, serving: dict[Future[RunSummary], int], ready: list[Due], summary: RunSummary
    ) -> None:
        """Claim batches of the ready endpoints for the free workers, one per endpoint in turn (those
        served longest ago first), then a second for those that may have more in flight, and so on:
        so one endpoint with a high concurrency does not take the workers the others need."""
        free = self.workers_count - len(serving)
        wanted = {
            due.endpoint_id: due.free
            for due in sorted(ready, key=lambda due: self.last_served.get(due.endpoint_id, 0.0))
        }
        while free > 0 and wanted:
            for endpoint_id in list(wanted):
                if free == 0:
                    break
                lease_id = uuid.uuid4().hex
                try:
                    claim = self.store.claim_batch(endpoint_id, lease_id, self.clock.now(), self.defaults)
                except Exception as error:  # a row the dispatcher cannot read: reported once, left to the next run
                    summary.errors.append(f"endpoint {endpoint_id}: {type(error).__name__}: {error}")
                    self.passed_over.add(endpoint_id)
                    del wanted[endpoint_id]
                    continue
                if claim is None:
                    if endpoint_id not in serving.values():
                        self.resting[endpoint_id] = self.clock.now() + timedelta(seconds=REST_S)
                    del wanted[endpoint_id]
                    continue
                serving[pool.submit(self._serve, claim, lease_id)] = endpoint_id
                free -= 1
                wanted[endpoint_id] -= 1
                if not wanted[endpoint_id]:
                    del wanted[endpoint_id]
        with self.workers_lock:
            self.starved = sum(1 for endpoint_id in wanted if endpoint_id not in serving.values())

    def _retry_at(self, batch: Batch, settings: DeliverySettings, outcome: Outcome, now: datetime) -> datetime | None:
        return next_attempt_at(
            batch.attempts + 1,
            settings.max_attempts,
            now,
            self.rng.random,
            settings.retry,
            first_attempt_at=batch.first_attempt_at or outcome.started_at,
            max_age=settings.max_age,
            retry_after=None if outcome.retry_after is None else now + timedelta(seconds=outcome.retry_after),
        )

    def _tell(
        self, endpoint: Endpoint, settings: DeliverySettings, recorded: Recorded, now: datetime, summary: RunSummary
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
            worker = _Worker(open_store(self.path))
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

    def _serve(self, claim: Claim, lease_id: str) -> RunSummary:
        """Send the claimed batch, then the endpoint's next ones under the same lease id, in order,
        until one fails, none is due, the run is stopped, or the turn is over while another
        endpoint waits for a worker (then it goes back in line, behind those)."""
        summary = RunSummary()
        endpoint_id = claim.endpoint.id
        current: Claim | None = claim
        worker = self._worker()
        turn_ends = time.monotonic() + TURN_S
        try:
            while current is not None:
                endpoint, settings, batch = current
                if self.stop.is_set():  # since the claim: its batch waits for the next run
                    worker.store.release_batch(batch.id, lease_id)
                    break
                outcome = worker.sender.deliver(endpoint, batch, settings, self.clock)
                now = self.clock.now()
                retry_at = None if outcome.ok else self._retry_at(batch, settings, outcome, now)
                if outcome.ok and now < self.deadline and not self.stop.is_set() and not self._hand_over(turn_ends):
                    recorded, current = worker.store.record_and_claim(
                        batch, lease_id, outcome, retry_at, now, settings.disable_after, self.defaults
                    )
                else:
                    recorded, current = (
                        worker.store.record_outcome(batch, lease_id, outcome, retry_at, now, settings.disable_after),
                        None,
                    )
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
            if current is not None:
                try:
                    worker.store.release_batch(current.batch.id, lease_id)
                except Exception:
                    pass  # the lease expires by itself
        return summary


def workers_of(options: RunOptions) -> list[int]:
    """Each process's share of ``options.workers``: this one's first."""
    whole, rest = divmod(options.workers, options.processes)
    return [whole + (1 if n < rest else 0) for n in range(options.processes)]
