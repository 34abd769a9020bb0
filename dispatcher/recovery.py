"""After failure and success: replaying finished deliveries, and pruning what is no longer needed.

Mautic's queue and log tables grow without bound; here delivered work is
pruned after the ``retention`` period, by ``dispatcher prune`` or
automatically at the end of a ``process`` run. Dead deliveries stay until
they are replayed or pruned with ``--dead``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from .clock import from_text, to_millis
from .durations import parse_duration
from .errors import DispatcherError
from .models import Pruned, Selection
from .store import Store

# Longer than any import takes: see prune.
UNSUBSCRIBED_MIN_AGE = 86400.0


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (in UTC when it names no zone), or a duration meaning that long before ``now``;
    to the millisecond, as times are stored."""
    try:
        return to_millis(now - timedelta(seconds=parse_duration(text)))
    except DispatcherError:
        pass
    try:
        moment = from_text(text.strip())
    except ValueError:
        raise DispatcherError(
            f"invalid time {text!r}: use ISO 8601 (2026-11-22T10:00:00Z) or a duration ago (2h, 7d)"
        ) from None
    return to_millis(moment)


def replay(store: Store, selection: Selection, progress: Callable[[int], None] = lambda done: None) -> int:
    """Put finished deliveries matching ``selection`` back in the queue; returns how many."""
    _refuse_everything(selection)
    return store.replay(selection, progress)


def count_replayable(store: Store, selection: Selection) -> int:
    _refuse_everything(selection)
    return store.count_replayable(selection)


def _refuse_everything(selection: Selection) -> None:
    if selection.is_empty():
        raise DispatcherError("replay needs a filter (--event, --endpoint, --dead, --type, --since or --until)")


def prune(store: Store, older_than: float, now: datetime, dead: bool = False, budget: float | None = None) -> Pruned:
    """Delete delivered (and with ``dead``, dead) work finished more than ``older_than`` seconds ago.

    Works in chunks of short transactions; with ``budget`` it stops after that
    many seconds and leaves the rest for the next time.
    """
    if older_than < 0:
        raise DispatcherError("invalid age: must not be negative")
    cutoff = now - timedelta(seconds=older_than)
    states = ("delivered", "dead") if dead else ("delivered",)
    stop_at = None if budget is None else time.monotonic() + budget
    total = Pruned()

    def in_time() -> bool:
        return stop_at is None or time.monotonic() < stop_at

    while in_time():
        pruned = store.prune_batches(cutoff, states)
        total.add(pruned)
        if not pruned.batches:
            break
    # An import's events are in the table before any endpoint gets them, so no
    # event no endpoint needs is deleted before it is a day old.
    unsubscribed_cutoff = now - timedelta(seconds=max(older_than, UNSUBSCRIBED_MIN_AGE))
    more = True
    while more and in_time():
        pruned, more = store.prune_unsubscribed_events(unsubscribed_cutoff)
        total.add(pruned)
    while in_time():
        pruned = store.prune_test_attempts(cutoff)
        total.add(pruned)
        if not pruned.attempts:
            break
    store.maintain()
    return total
