"""dispatcher.durations: the duration strings users type on the command line."""

from __future__ import annotations

import pytest

from dispatcher.durations import format_duration, format_rough, parse_duration
from dispatcher.errors import DispatcherError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("7d", 604_800.0),
        ("0s", 0.0),
        ("1ms", 0.001),
    ],
)
def test_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "seconds"), [("15", 15.0), ("0", 0.0), ("3600", 3600.0)])
def test_bare_number_is_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1.5s", 1.5), ("0.5m", 30.0), ("1.25h", 4500.0), ("2.5", 2.5), ("0.5d", 43_200.0)],
)
def test_decimals(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [" 5s", "5s ", "  5s\n", "\t5s", "5 s"])
def test_surrounding_whitespace_is_ignored(text: str) -> None:
    assert parse_duration(text) == 5.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "5x",
        "-1s",
        "abc",
        "1e400",
        "s",
        "5s5",
        "5 5s",
        "1,5s",
        "5S",  # units are lower case; "5M" could be read as months
    ],
)
def test_rejected_inputs_name_the_input(text: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        parse_duration(text)
    # The user must see which of their values was wrong.
    assert repr(text) in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_number_too_large_for_a_float_is_rejected() -> None:
    # 400 digits overflow to inf; a duration must stay finite.
    text = "9" * 400 + "s"
    with pytest.raises(DispatcherError) as caught:
        parse_duration(text)
    assert "too large" in str(caught.value)


@pytest.mark.parametrize("text", ["36501d", "64000000000"])
def test_a_duration_beyond_a_century_is_rejected(text: str) -> None:
    # Every duration is added to or taken from a time; datetime cannot reach that far.
    with pytest.raises(DispatcherError) as caught:
        parse_duration(text)
    assert "too large" in str(caught.value)


@pytest.mark.parametrize(("text", "seconds"), [("0.0011", 0.001), ("1.0004s", 1.0), ("2.6ms", 0.003), ("0.4ms", 0.0)])
def test_durations_are_kept_to_the_millisecond(text: str, seconds: float) -> None:
    # So that what is stored prints back exactly (format_duration spells whole milliseconds).
    assert parse_duration(text) == seconds


def test_a_century_is_accepted() -> None:
    assert parse_duration("36500d") == 36_500 * 86_400.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "500ms"),
        (5.0, "5s"),
        (300.0, "5m"),
        (7200.0, "2h"),
        (604_800.0, "7d"),
        (90.0, "90s"),  # not a whole number of minutes
        (1.5, "1500ms"),
    ],
)
def test_format_uses_the_largest_exact_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "seconds",
    [0.0, 0.001, 0.5, 0.7, 1.5, 5.0, 15.0, 90.0, 300.0, 3599.999, 3600.0, 86_400.0, 604_800.0],
)
def test_format_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.999, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (518.318, "8m38s"),
        (3605, "1h"),
        (7500, "2h5m"),
        (3 * 86400 + 4 * 3600 + 59 * 60, "3d4h"),
        (36_500 * 86400, "36500d"),
    ],
)
def test_format_rough_shows_the_two_largest_units_rounded_down(seconds: float, shown: str) -> None:
    assert format_rough(seconds) == shown
