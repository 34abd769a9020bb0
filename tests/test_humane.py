"""`status` and `endpoint show` as people read them; their JSON keeps the machine values."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import datetime, timedelta

from dispatcher import endpoints, humane
from dispatcher.clock import ManualClock, from_text
from dispatcher.config import defaults_from
from dispatcher.models import Outcome
from dispatcher.store import Store

from .helpers import Invoke, ok


def _attempt(store: Store, endpoint_id: int, at: datetime, retry_at: datetime | None, ok: bool = False) -> None:
    """One request for the endpoint's next batch at ``at``: a success, or a failure retried at ``retry_at``."""
    claim = store.claim_batch(endpoint_id, "lease", at, defaults_from(store.config()))
    assert claim is not None
    outcome = Outcome(ok=ok, started_at=at, duration_ms=1, status_code=200 if ok else 500)
    assert store.record_outcome(claim[2], "lease", outcome, retry_at, at) is not None


def test_status_rows_for_people(store: Store, clock: ManualClock) -> None:
    start = clock.now()
    failing = endpoints.add(store, "https://example.com/a", name="crm", events=("lead.*",)).id
    recovered = endpoints.add(store, "https://example.com/b", events=("deal.*",)).id
    disabled = endpoints.add(store, "https://example.com/c", events=("note.*",)).id
    events = [(type_, "{}", start) for type_ in ("lead.created", "deal.won", "note.added")]
    store.insert_events(events)
    now = start + timedelta(seconds=518.318)
    _attempt(store, failing, start, retry_at=now + timedelta(seconds=252.5))
    _attempt(store, recovered, start, retry_at=start + timedelta(seconds=5))
    _attempt(store, recovered, start + timedelta(seconds=5), retry_at=None, ok=True)
    store.insert_events([("deal.won", "{}", start)])
    endpoints.disable(store, disabled, start)

    statuses = store.status(now)
    rows = humane.status_rows(statuses, now)
    assert [list(row) for row in rows] == [list(humane.STATUS_COLUMNS)] * 3
    assert rows[0] == {
        **rows[0],
        "name": "crm",
        "enabled": "yes",
        "pending": 1,
        "consecutive_failures": 1,
        "oldest_pending": "8m38s",
        "next_attempt": "in 4m12s",
        "last_error": "HTTP 500",
    }
    # Failed once, then delivered: the error is history; one more event is due for its first try.
    assert rows[1] == {**rows[1], "name": None, "consecutive_failures": 0, "last_error": None, "next_attempt": "now"}
    assert rows[2] == {**rows[2], "enabled": "no", "pending": 1, "next_attempt": None, "oldest_pending": "8m38s"}

    # The machine values behind them.
    first, second, third = (asdict(status) for status in statuses)
    assert (first["oldest_pending_age_s"], first["next_attempt_at"]) == (
        518.318,
        now + timedelta(seconds=252.5),
    )
    assert (first["last_error"], first["last_error_at"]) == ("HTTP 500", start)
    assert (second["last_error"], second["last_error_at"], second["next_attempt_at"]) == (
        "HTTP 500",
        start,
        now,
    )
    assert (third["enabled"], third["next_attempt_at"]) == (False, None)


def test_status_table_and_json_from_the_cli(store: Store, invoke: Invoke) -> None:
    endpoints.add(store, "https://example.com/a", name="crm")
    endpoints.add(store, "https://example.com/b")
    store.insert_event("lead.created", "{}")
    lines = ok(invoke("status")).splitlines()
    assert lines[0].split() == list(humane.STATUS_COLUMNS)
    assert re.fullmatch(r"1\s+crm\s+yes\s+1\s+0\s+0\s+0\s+0\s+\d+s\s+now", lines[1]), lines[1]
    assert re.fullmatch(r"2\s+yes\s+1\s+0\s+0\s+0\s+0\s+\d+s\s+now", lines[2]), lines[2]
    rows = json.loads(ok(invoke("status", "--json")))
    assert (rows[0]["name"], rows[0]["enabled"], rows[1]["name"]) == ("crm", True, None)
    assert isinstance(rows[0]["oldest_pending_age_s"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0]["next_attempt_at"])


def test_due_in() -> None:
    now = ManualClock(datetime.fromisoformat("2026-11-22T10:00:00+00:00")).now()
    assert humane.due_in(from_text("2026-11-22T10:04:12.900Z"), now) == "in 4m12s"
    assert humane.due_in(from_text("2026-11-22T12:05:00.000Z"), now) == "in 2h5m"
    assert humane.due_in(from_text("2026-11-22T10:00:00.500Z"), now) == "now"
    assert humane.due_in(from_text("2026-11-21T10:00:00.000Z"), now) == "now"  # overdue


def test_endpoint_show_spells_settings_as_config_does_and_marks_the_global_ones(invoke: Invoke) -> None:
    ok(invoke("endpoint", "add", "https://example.com/hook", "--timeout", "30s", "--max-age", "2h"))
    ok(invoke("config", "set", "max_attempts", "12"))
    lines = ok(invoke("endpoint", "show", "1")).splitlines()
    expected = [
        "enabled: yes",
        "order: asc (global)",
        "batch_size: 10 (global)",
        "timeout: 30s",
        "max_attempts: 12 (global)",
        "retry: schedule:5s,5m,30m,2h,5h,10h,10h (global)",
        "max_age: 2h",
        "disable_after: 20 (global)",
        "notify_command: none (global)",
        "headers: ",
        "allow_private: false (global)",
    ]
    assert [line for line in lines if line in expected] == expected
    shown = json.loads(ok(invoke("endpoint", "show", "1", "--json")))
    assert (shown["timeout"], shown["max_age"], shown["max_attempts"], shown["enabled"]) == (30.0, 7200.0, 12, True)
    assert (shown["notify_command"], shown["allow_private"]) == (None, False)


def test_an_inherited_setting_shows_as_config_shows_it(invoke: Invoke) -> None:
    """What `config get` prints is what `endpoint show` prints for an endpoint that follows it."""
    ok(invoke("endpoint", "add", "https://example.com/hook", "--timeout", "90s"))
    for name, typed in (("timeout", "120s"), ("allow_private", "yes"), ("max_age", ""), ("batch_size", "25")):
        ok(invoke("config", "set", name, typed))
        assert ok(invoke("config", "get", name)) == f"{typed or 'none'}\n"
    ok(invoke("endpoint", "update", "1", "--reset", "timeout"))
    lines = ok(invoke("endpoint", "show", "1")).splitlines()
    for expected in ("timeout: 120s (global)", "allow_private: yes (global)", "max_age: none (global)"):
        assert expected in lines
    assert "batch_size: 25 (global)" in lines
    assert "max_age = none" in ok(invoke("config", "list")).splitlines()


def test_endpoint_show_raw_format_batch_size_is_its_own(invoke: Invoke) -> None:
    ok(invoke("endpoint", "add", "https://example.com/hook", "--format", "raw", "--no-allow-private"))
    lines = ok(invoke("endpoint", "show", "1")).splitlines()
    assert "batch_size: 1" in lines  # the raw format's one event per request, not the global 10
    assert "allow_private: false" in lines
