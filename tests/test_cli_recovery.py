"""`dispatcher dead`, `replay`, `prune`, the `attempts` filters and the failure options, as users run them."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from .helpers import (
    TIME_LIMIT,
    Invoke,
    add_endpoint,
    as_json,
    assert_one_line_error,
    attempts_of,
    enqueue,
    ok,
    show,
    status_of,
)


@pytest.fixture
def invoke(invoke_anywhere: Invoke) -> Invoke:
    """Every test here runs on each backend: SQLite, then PostgreSQL."""
    return invoke_anywhere


@pytest.fixture
def dead_and_delivered(invoke: Invoke, httpserver: HTTPServer) -> dict[str, Any]:
    """Endpoint `ok` got events 1-3; endpoint `down` let them die on its one attempt."""
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/down").respond_with_data("broken", status=500)
    ok_id = add_endpoint(invoke, httpserver.url_for("/ok"))["id"]
    down_id = add_endpoint(invoke, httpserver.url_for("/down"), "--max-attempts", "1")["id"]
    ids = [enqueue(invoke, "lead.created", "{}") for _ in range(3)]
    ok(invoke("process", *TIME_LIMIT))
    return {"ok": ok_id, "down": down_id, "ids": ids, "server": httpserver}


def test_dead_lists_each_dead_delivery(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    rows = as_json(invoke("dead", "--json"))
    assert [(row["endpoint"], row["event_id"]) for row in rows] == [
        (dead_and_delivered["down"], event_id) for event_id in dead_and_delivered["ids"]
    ]
    assert set(rows[0]) == {"endpoint", "event_id", "type", "attempts", "last_error", "died_at"}
    assert rows[0]["last_error"] == "HTTP 500" and rows[0]["attempts"] == 1
    assert as_json(invoke("dead", "--endpoint", str(dead_and_delivered["ok"]), "--json")) == []
    assert "HTTP 500" in ok(invoke("dead"))


def test_replay_dead_after_the_receiver_is_fixed(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    down = str(dead_and_delivered["down"])
    assert ok(invoke("replay", "--dead", "--endpoint", down, "--dry-run")) == "3 deliveries would be replayed\n"
    assert ok(invoke("replay", "--dead", "--event", str(dead_and_delivered["ids"][0]), "--dry-run")) == (
        "1 delivery would be replayed\n"
    )
    assert as_json(invoke("dead", "--json"))  # a dry run changes nothing
    assert ok(invoke("replay", "--dead", "--endpoint", down)) == "3 deliveries replayed\n"
    assert as_json(invoke("dead", "--json")) == []
    server: HTTPServer = dead_and_delivered["server"]
    server.clear()
    server.expect_request("/down").respond_with_data("fixed")
    ok(invoke("process", *TIME_LIMIT))
    assert [row["delivered"] for row in status_of(invoke)] == [3, 3]


def test_replay_by_event_and_since(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    first = str(dead_and_delivered["ids"][0])
    assert ok(invoke("replay", "--event", first, "--dry-run")) == "2 deliveries would be replayed\n"
    assert ok(invoke("replay", "--since", "1h", "--endpoint", str(dead_and_delivered["ok"]))) == (
        "3 deliveries replayed\n"
    )
    assert ok(invoke("replay", "--until", "2000-01-01T00:00:00Z", "--dry-run")) == "0 deliveries would be replayed\n"


def test_replay_json(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    down = str(dead_and_delivered["down"])
    assert as_json(invoke("replay", "--dead", "--endpoint", down, "--dry-run", "--json")) == {"would_replay": 3}
    assert as_json(invoke("replay", "--dead", "--endpoint", down, "--json")) == {"replayed": 3}
    assert as_json(invoke("replay", "--dead", "--json")) == {"replayed": 0}


@pytest.mark.parametrize(
    "options", [(), ("--since", "yesterday"), ("--event", "x"), ("--until", "5x")], ids=lambda o: " ".join(o) or "none"
)
def test_replay_refuses_no_filter_and_bad_values(invoke: Invoke, options: tuple[str, ...]) -> None:
    ok(invoke("init"))
    assert_one_line_error(invoke("replay", *options), exit_code=None)


@pytest.mark.parametrize(
    "window",
    [("--since", "1h", "--until", "2h"), ("--since", "2026-11-22T10:00:00Z", "--until", "2026-11-22T10:00:00Z")],
    ids=["swapped", "empty"],
)
@pytest.mark.parametrize("command", [("replay",), ("replay", "--dry-run"), ("attempts",)], ids=" ".join)
def test_a_time_window_that_nothing_fits_is_refused(
    invoke: Invoke, dead_and_delivered: dict[str, Any], command: tuple[str, ...], window: tuple[str, ...]
) -> None:
    message = assert_one_line_error(invoke(*command, *window))
    assert message.startswith("Error: invalid time window: since (")
    assert len(as_json(invoke("dead", "--json"))) == 3  # nothing was replayed


def test_prune_removes_delivered_work(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    assert as_json(invoke("prune", "--json")) == {"batches": 0, "deliveries": 0, "attempts": 0, "events": 0}
    pruned = ok(invoke("prune", "--older-than", "0s"))
    assert pruned == "pruned 0 events, 3 deliveries, 1 batch, 1 attempt\n"
    assert len(as_json(invoke("dead", "--json"))) == 3  # dead ones wait for replay
    assert as_json(invoke("prune", "--older-than", "0s", "--dead", "--json"))["events"] == 3


def test_prune_needs_an_age_when_retention_is_none(invoke: Invoke) -> None:
    ok(invoke("config", "set", "retention", "none"))
    assert "--older-than" in assert_one_line_error(invoke("prune"), exit_code=None)


def test_attempts_filters(invoke: Invoke, dead_and_delivered: dict[str, Any]) -> None:
    down, ids = dead_and_delivered["down"], dead_and_delivered["ids"]
    assert [row["endpoint"] for row in attempts_of(invoke, "--status", "failed")] == [down]
    assert [row["status_code"] for row in attempts_of(invoke, "--status", "200")] == [200]
    assert len(attempts_of(invoke, "--status", "ok")) == 1
    assert len(attempts_of(invoke, "--event", str(ids[1]))) == 2
    assert len(attempts_of(invoke, "--since", "1h")) == 2
    assert attempts_of(invoke, "--until", "1h") == []
    assert attempts_of(invoke, "--endpoint", str(down), "--status", "ok") == []


@pytest.mark.parametrize("options", [("--status", "teapot"), ("--status", "99"), ("--since", "then")], ids=" ".join)
def test_attempts_refuses_bad_filters(invoke: Invoke, options: tuple[str, ...]) -> None:
    assert_one_line_error(invoke("attempts", *options))


def test_failure_options_are_stored_and_shown(invoke: Invoke) -> None:
    options = "--retry exponential:5m --max-attempts 12 --max-age 7d --disable-after 5 --notify-command true".split()
    added = add_endpoint(invoke, "https://example.com/hook", *options)
    expected = {
        "retry": "exponential:5m:2",
        "max_attempts": 12,
        "max_age": 604800.0,
        "disable_after": 5,
        "notify_command": "true",
    }
    assert {key: added[key] for key in expected} == expected
    updated = as_json(invoke("endpoint", "update", str(added["id"]), "--retry", "fixed:5m", "--json"))
    assert updated["retry"] == "fixed:5m"


@pytest.mark.parametrize(
    "options",
    [("--retry", "linear:5s"), ("--max-age", "0s"), ("--disable-after", "-1"), ("--notify-command", " ")],
    ids=" ".join,
)
def test_bad_failure_options_are_one_line_errors(invoke: Invoke, options: tuple[str, ...]) -> None:
    before = add_endpoint(invoke)
    assert_one_line_error(invoke("endpoint", "update", str(before["id"]), *options), exit_code=None)
    assert show(invoke, before["id"], "--show-secret") == before


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("retry", "exponential:1s", "exponential:1s"),  # as typed: the factor 2 is implied
        ("max_age", "7d", "7d"),
        ("max_age", "none", "none"),
        ("disable_after", "0", "0"),
        ("retention", "36h", "36h"),
        ("smtp_to", "a@example.com, b@example.com", "a@example.com, b@example.com"),
        ("smtp_starttls", "yes", "yes"),
        ("smtp_password", "hunter2", "(set)"),
    ],
)
def test_config_failure_and_notification_settings(invoke: Invoke, name: str, value: str, shown: str) -> None:
    assert ok(invoke("config", "set", name, value)) == f"{name} = {shown}\n"
    assert ok(invoke("config", "get", name)) == f"{shown}\n"
    assert "hunter2" not in ok(invoke("config", "list"))


@pytest.mark.parametrize(
    ("name", "value"), [("retry", "sometimes"), ("smtp_port", "0"), ("smtp_starttls", "maybe"), ("retention", "x")]
)
def test_config_refuses_bad_failure_settings(invoke: Invoke, name: str, value: str) -> None:
    assert_one_line_error(invoke("config", "set", name, value))
