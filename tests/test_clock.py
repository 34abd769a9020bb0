"""Time as the dispatcher stores it: one text form that sorts like time itself."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

from dispatcher.clock import ManualClock, from_text, to_text


def test_stored_times_match_the_schema_default_and_sort_as_text() -> None:
    moment = datetime(2026, 11, 22, 10, 0, 5, 123456, tzinfo=UTC)
    earlier = moment - timedelta(milliseconds=1)
    assert to_text(moment) == "2026-11-22T10:00:05.123Z"
    assert to_text(earlier) < to_text(moment)
    sqlite_default = sqlite3.connect(":memory:").execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')").fetchone()[0]
    assert len(sqlite_default) == len(to_text(moment)) and sqlite_default.endswith("Z")


def test_other_time_zones_are_stored_as_utc_and_read_back() -> None:
    amsterdam = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 22, 11, 0, 0, tzinfo=amsterdam)
    assert to_text(moment) == "2026-11-22T10:00:00.000Z"
    assert from_text(to_text(moment)) == moment


def test_a_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start
    clock.sleep(5)
    clock.advance(0.5)
    clock.sleep(-3)  # never backwards
    assert clock.now() == start + timedelta(seconds=5.5)
