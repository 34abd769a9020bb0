"""When a failed batch is tried again. Pure: the caller passes the time and the dice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

# Svix's schedule: the delay after the 1st, 2nd, ... failure; the last repeats.
DEFAULT_DELAYS: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
# Jitter only ever adds, so a retry is never earlier than scheduled.
JITTER = 0.10


def next_attempt_at(
    attempts_made: int,
    max_attempts: int,
    failed_at: datetime,
    random: Callable[[], float],
    delays: Sequence[float] = DEFAULT_DELAYS,
) -> datetime | None:
    """When to try again after ``attempts_made`` failed requests, or None when the batch is dead.

    ``max_attempts`` counts the first try; ``random`` returns a float in [0, 1).
    """
    if attempts_made >= max_attempts:
        return None
    delay = delays[min(attempts_made, len(delays)) - 1]
    return failed_at + timedelta(seconds=delay * (1 + JITTER * random()))
