"""dispatcher.recovery on a real SQLite file: its refusals, its times, and a file that stops growing.
(The store's own recovery statements are tested on each backend in test_store_recovering.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from dispatcher import endpoints, recovery
from dispatcher.clock import ManualClock, to_text
from dispatcher.delivery import RunOptions, run
from dispatcher.errors import DispatcherError
from dispatcher.models import Selection
from dispatcher.store import Store

from .process_helpers import enqueue


def test_replay_without_a_filter_is_refused(store: Store) -> None:
    with pytest.raises(DispatcherError, match="needs a filter"):
        recovery.replay(store, Selection())


@pytest.mark.parametrize(
    "text", ["2h", "90m", "2026-11-22T08:00:00Z", "2026-11-22T08:00:00", "2026-11-22T09:00:00+01:00"]
)
def test_times_are_iso_8601_or_a_duration_ago(text: str, clock: ManualClock) -> None:
    assert to_text(recovery.parse_time(text, clock.now())) in ("2026-11-22T08:00:00.000Z", "2026-11-22T08:30:00.000Z")


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01", "5x"])
def test_bad_times_are_refused(text: str, clock: ManualClock) -> None:
    with pytest.raises(DispatcherError, match="invalid time"):
        recovery.parse_time(text, clock.now())


def test_the_file_stops_growing_under_steady_load(
    db_path: Path, store: Store, receiver: HTTPServer, clock: ManualClock
) -> None:
    receiver.expect_request("/ok").respond_with_data("fine")
    endpoints.add(store, receiver.url_for("/ok"), batch_size=100)
    sizes = []
    for _ in range(8):
        enqueue(db_path, 1000)
        run(db_path, RunOptions(time_limit=30), clock=clock)
        clock.advance(120)
        recovery.prune(store, 60, clock.now())
        sizes.append(os.path.getsize(db_path) + os.path.getsize(f"{db_path}-wal"))
    assert store.status(clock.now())[0].delivered == 0
    # Freed pages are reused: after the first rounds the file holds steady.
    assert max(sizes[3:]) <= sizes[2] * 1.1, sizes
