"""`serve --deliver`: delivery in the server's process, as back-to-back `process` runs would do it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..delivery import RunOptions, run
from ..errors import DispatcherError
from ..models import RunSummary
from ..store import Location, Store, open_store

# After a run that found nothing to do, the next starts when a producer queues events, if the
# database says so (PostgreSQL's NOTIFY), else this much later: what a producer queues reaches
# its receiver within about a second, and an idle server costs next to nothing.
IDLE_S = 1.0


class DeliveryLoop:
    """Runs :func:`dispatcher.delivery.run` again and again in a thread of its own until stopped.

    Each run takes leases as a cron run would, so cron and any number of servers may deliver
    from the same database at once. ``stop`` lets the requests in flight finish.
    """

    def __init__(self, path: str | Path | Location, options: RunOptions, report: Callable[[RunSummary], None]) -> None:
        self.path = path
        self.options = options
        self.report = report
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="dispatcher-delivery", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def _loop(self) -> None:
        waiting: Store | None = None  # kept open between runs: it may be listening for events
        try:
            while not self.stopping.is_set():
                try:
                    summary = run(self.path, self.options, stop=self.stopping)
                except DispatcherError as error:
                    summary = RunSummary(errors=[str(error)])
                if summary.requests or summary.errors or summary.disabled:
                    self.report(summary)
                if not summary.requests:
                    waiting = self._idle(waiting)
        finally:
            if waiting is not None:
                waiting.close()

    def _idle(self, waiting: Store | None) -> Store | None:
        """Until events are queued, the stop, or IDLE_S; the store it waited on, for the next wait."""
        try:
            waiting = waiting or open_store(self.path, create=False)
            waiting.wait_for_events(IDLE_S, self.stopping)
        except DispatcherError:  # the database is away: the next run says so
            if waiting is not None:
                waiting.close()
            self.stopping.wait(IDLE_S)
            return None
        return waiting
