"""dispatcher.retry: when a failed batch is tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from dispatcher.errors import DispatcherError
from dispatcher.retry import DEFAULT_DELAYS, next_attempt_at, parse_policy

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


def test_custom_schedule_repeats_its_last_delay() -> None:
    policy = parse_policy("schedule:1s,2s")
    assert next_attempt_at(1, 10, FAILED_AT, no_jitter, policy) == FAILED_AT + timedelta(seconds=1)
    assert next_attempt_at(2, 10, FAILED_AT, no_jitter, policy) == FAILED_AT + timedelta(seconds=2)
    assert next_attempt_at(5, 10, FAILED_AT, no_jitter, policy) == FAILED_AT + timedelta(seconds=2)


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


# --- retry policies -------------------------------------------------------------------


def delays(spec: str, max_attempts: int, max_age: float | None = None) -> list[float]:
    """The waits between a batch's requests under ``spec`` when every request fails at once."""
    policy = parse_policy(spec)
    waits: list[float] = []
    failed_at = FAILED_AT
    for attempts_made in range(1, max_attempts + 1):
        following = next_attempt_at(
            attempts_made, max_attempts, failed_at, no_jitter, policy, first_attempt_at=FAILED_AT, max_age=max_age
        )
        if following is None:
            return waits
        waits.append((following - failed_at).total_seconds())
        failed_at = following
    raise AssertionError("a batch must die within max_attempts")


def test_exponential_doubles_from_its_base() -> None:
    assert delays("exponential:1s", 6) == [1, 2, 4, 8, 16]  # the lead-management service's policy


def test_exponential_with_factor_and_cap() -> None:
    assert delays("exponential:10s:3:1m", 6) == [10, 30, 60, 60, 60]


def test_fixed_interval() -> None:
    # LeaseFetcher: every 5 minutes, 20 attempts in all.
    assert delays("fixed:5m", 20) == [300] * 19


def test_leasecloud_policy_stops_at_seven_days_from_the_first_attempt() -> None:
    waits = delays("exponential:5m", 12, max_age=7 * 86400)
    # 5m, 10m, ... 5m * 2**9 = 42.7h add up to 85.25h; the 11th delay (85.3h) would pass 7 days.
    assert waits == [300 * 2**n for n in range(10)]
    assert sum(waits) <= 7 * 86400 < sum(waits) + 300 * 2**10


def test_a_huge_exponent_is_capped_not_an_overflow() -> None:
    assert parse_policy("exponential:1s:100").delay(10_000) == 30 * 86400


@pytest.mark.parametrize(
    "spec",
    ["schedule:5s,5m,30m,2h,5h,10h,10h", "exponential:1s:2", "exponential:5m:1.5:2h", "fixed:5m", "schedule:500ms"],
)
def test_a_policy_is_spelled_back_as_typed(spec: str) -> None:
    assert parse_policy(spec).spec() == spec
    assert parse_policy(parse_policy(spec).spec()) == parse_policy(spec)


def test_exponential_default_factor_is_spelled_out() -> None:
    assert parse_policy("exponential:1s").spec() == "exponential:1s:2"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "linear:5s",
        "schedule",
        "schedule:",
        "schedule:5s,,5m",
        "schedule:0s",
        "schedule:-5s",
        "fixed:5x",
        "fixed:60d",
        "exponential:",
        "exponential:1s:0.5",
        "exponential:1s:two",
        "exponential:1s:2:500ms",
        "exponential:1s:2:1h:9",
        "exponential:1s:nan",
    ],
)
def test_bad_policies_are_refused_in_one_line(spec: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        parse_policy(spec)
    assert "\n" not in str(caught.value)


# --- Retry-After and the maximum age ------------------------------------------------------


def test_retry_after_moves_a_retry_later() -> None:
    asked = FAILED_AT + timedelta(minutes=2)
    assert next_attempt_at(1, 8, FAILED_AT, max_jitter, retry_after=asked) == asked


def test_retry_after_never_makes_a_retry_earlier() -> None:
    due = next_attempt_at(2, 8, FAILED_AT, no_jitter, retry_after=FAILED_AT + timedelta(seconds=1))
    assert due == FAILED_AT + timedelta(minutes=5)


def test_retry_after_is_honoured_up_to_a_day() -> None:
    due = next_attempt_at(1, 8, FAILED_AT, no_jitter, retry_after=FAILED_AT + timedelta(days=30))
    assert due == FAILED_AT + timedelta(hours=24)


def test_a_retry_after_the_maximum_age_is_not_scheduled() -> None:
    first = FAILED_AT - timedelta(minutes=59)
    policy = parse_policy("fixed:2m")
    assert next_attempt_at(3, 100, FAILED_AT, no_jitter, policy, first_attempt_at=first, max_age=3600) is None
    kept = next_attempt_at(3, 100, FAILED_AT, no_jitter, policy, first_attempt_at=first, max_age=3660)
    assert kept == FAILED_AT + timedelta(minutes=2)


def test_a_retry_after_beyond_the_maximum_age_kills_the_batch() -> None:
    later = FAILED_AT + timedelta(hours=2)
    assert (
        next_attempt_at(1, 8, FAILED_AT, no_jitter, retry_after=later, first_attempt_at=FAILED_AT, max_age=3600) is None
    )


@freeze_time("2026-11-22 10:00:00")
def test_seed_policies_with_a_frozen_clock() -> None:
    now = datetime.now(UTC)
    assert next_attempt_at(1, 20, now, no_jitter, parse_policy("fixed:5m")) == now + timedelta(minutes=5)
    assert next_attempt_at(5, 6, now, no_jitter, parse_policy("exponential:1s")) == now + timedelta(seconds=16)
    assert next_attempt_at(6, 6, now, no_jitter, parse_policy("exponential:1s")) is None
