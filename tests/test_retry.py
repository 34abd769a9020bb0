"""dispatcher.retry: when a failed batch is tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from dispatcher.retry import DEFAULT_DELAYS, next_attempt_at

FAILED_AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
# The largest float below 1.0, the top of random.random()'s range.
ALMOST_ONE = 0.9999999999999999


def no_jitter() -> float:
    return 0.0


def max_jitter() -> float:
    return ALMOST_ONE


MINUTE = 60
HOUR = 3600
# Delay after the 1st .. 7th failure, written out from the documented schedule.
SCHEDULE = [5, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]


def test_default_delays_are_the_documented_schedule() -> None:
    assert list(DEFAULT_DELAYS) == SCHEDULE


@pytest.mark.parametrize(("attempts_made", "delay"), list(enumerate(SCHEDULE, start=1)))
def test_delay_after_each_failure(attempts_made: int, delay: int) -> None:
    due = next_attempt_at(attempts_made, 100, FAILED_AT, no_jitter)
    assert due == FAILED_AT + timedelta(seconds=delay)


@pytest.mark.parametrize("attempts_made", [8, 9, 20, 99])
def test_last_delay_repeats(attempts_made: int) -> None:
    due = next_attempt_at(attempts_made, 100, FAILED_AT, no_jitter)
    assert due == FAILED_AT + timedelta(hours=10)


@pytest.mark.parametrize(("attempts_made", "delay"), list(enumerate(SCHEDULE, start=1)))
def test_jitter_adds_at_most_ten_percent(attempts_made: int, delay: int) -> None:
    due = next_attempt_at(attempts_made, 100, FAILED_AT, max_jitter)
    assert due is not None
    waited = (due - FAILED_AT).total_seconds()
    assert delay < waited <= delay * 1.1


@pytest.mark.parametrize("dice", [0.0, 0.25, 0.5, ALMOST_ONE])
def test_jitter_never_makes_a_retry_early(dice: float) -> None:
    due = next_attempt_at(3, 8, FAILED_AT, lambda: dice)
    assert due is not None
    assert FAILED_AT + timedelta(minutes=30) <= due <= FAILED_AT + timedelta(minutes=33)


def test_custom_delays() -> None:
    delays = [1, 2]
    assert next_attempt_at(1, 10, FAILED_AT, no_jitter, delays) == FAILED_AT + timedelta(seconds=1)
    assert next_attempt_at(2, 10, FAILED_AT, no_jitter, delays) == FAILED_AT + timedelta(seconds=2)
    assert next_attempt_at(5, 10, FAILED_AT, no_jitter, delays) == FAILED_AT + timedelta(seconds=2)


@pytest.mark.parametrize(("attempts_made", "max_attempts"), [(8, 8), (9, 8), (1, 1), (3, 2)])
def test_no_retry_once_attempts_are_used_up(attempts_made: int, max_attempts: int) -> None:
    assert next_attempt_at(attempts_made, max_attempts, FAILED_AT, max_jitter) is None


def test_the_last_allowed_attempt_is_still_scheduled() -> None:
    # max_attempts counts the first try: 7 failures of 8 leave one more.
    assert next_attempt_at(7, 8, FAILED_AT, no_jitter) == FAILED_AT + timedelta(hours=10)


def test_default_eight_attempts_span_the_whole_schedule() -> None:
    # With max_attempts=8 (the built-in), every delay is used once, then the batch dies.
    due = FAILED_AT
    waits = []
    for attempts_made in range(1, 9):
        following = next_attempt_at(attempts_made, 8, due, no_jitter)
        if following is None:
            break
        waits.append((following - due).total_seconds())
        due = following
    assert waits == SCHEDULE
    assert due - FAILED_AT == timedelta(hours=27, minutes=35, seconds=5)


@freeze_time("2026-11-22 10:00:00")
def test_works_with_a_frozen_clock() -> None:
    failed_at = datetime.now(UTC)
    assert failed_at == FAILED_AT
    due = next_attempt_at(1, 8, failed_at, no_jitter)
    assert due == datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    assert due is not None and due.tzinfo is not None


def test_frozen_clock_moving_between_failures() -> None:
    with freeze_time("2026-11-22 10:00:00") as frozen:
        first = next_attempt_at(1, 8, datetime.now(UTC), no_jitter)
        frozen.tick(timedelta(seconds=5))
        second = next_attempt_at(2, 8, datetime.now(UTC), no_jitter)
    assert first == datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
    assert second == datetime(2026, 11, 22, 10, 5, 5, tzinfo=UTC)
