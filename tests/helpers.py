"""Plain helpers the test files share: running the CLI, judging what it answered, reading the database.

Fixtures live in conftest.py. A test file imports its helpers from here, never from another
test file (tests/test_test_layout.py keeps it so).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

SECRET = "test-secret"
# A database as schema version 5 (0.1.0) left it, for the upgrade to version 6.
V5_SCHEMA = Path(__file__).parent / "data" / "schema_v5.sql"

Invoke = Callable[..., Result]
RunDispatcher = Callable[..., subprocess.CompletedProcess[str]]
Outcome = Result | subprocess.CompletedProcess[str]

STATUS_KEYS = set(
    "endpoint name url enabled pending in_flight delivered dead consecutive_failures last_success_at last_error"
    " last_error_at oldest_pending_age_s next_attempt_at".split()
)
ATTEMPT_KEYS = set(
    "id endpoint batch_id event_ids started_at duration_ms status_code error response_excerpt test ok".split()
)

# Short enough to keep a file of CLI tests fast, long enough for a loopback request; a
# failed batch's first retry (5s+) always falls after it, so runs end at once.
TIME_LIMIT = ("--time-limit", "2s")


def dispatcher_command() -> list[str]:
    """The installed console script, as cron would run it."""
    script = shutil.which("dispatcher", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "dispatcher"]


# --- judging what a run answered -------------------------------------------------


def outcome(result: Outcome) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of an in-process or subprocess run."""
    if isinstance(result, subprocess.CompletedProcess):
        return result.returncode, result.stdout, result.stderr
    # In-process, an exception escaping the CLI is caught by CliRunner; run for
    # real it would have been a traceback in the user's terminal.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        pytest.fail("the CLI let an exception escape:\n" + "".join(traceback.format_exception(*result.exc_info)))
    return result.exit_code, result.stdout, result.stderr


def ok(result: Outcome) -> str:
    """stdout of a run that must have succeeded."""
    code, stdout, stderr = outcome(result)
    assert code == 0, f"exit {code}\nstdout: {stdout}\nstderr: {stderr}"
    return stdout


def assert_one_line_error(result: Outcome, exit_code: int | None = 2) -> str:
    """The contract for every error; exit_code None means any non-zero code."""
    code, stdout, stderr = outcome(result)
    assert "Traceback" not in stdout + stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("Error:"), lines[0]
    if exit_code is None:
        assert code != 0
    else:
        assert code == exit_code, f"exit {code}: {lines[0]}"
    return lines[0]


def as_json(result: Outcome) -> Any:
    return json.loads(ok(result))


# --- the CLI's own views, for tests that set up through it ------------------------


def enqueue(invoke: Invoke, event_type: str, payload: str) -> int:
    stdout = ok(invoke("enqueue", event_type, payload))
    assert re.fullmatch(r"\d+\n", stdout), f"enqueue must print the id alone, got {stdout!r}"
    return int(stdout)


def add_endpoint(invoke: Invoke, url: str = "https://example.com/hook", *options: str) -> dict[str, Any]:
    data: dict[str, Any] = as_json(
        invoke("endpoint", "add", url, "--allow-private", *options, "--json", "--show-secret")
    )
    return data


def show(invoke: Invoke, endpoint_id: int, *options: str) -> dict[str, Any]:
    data: dict[str, Any] = as_json(invoke("endpoint", "show", str(endpoint_id), *options, "--json"))
    return data


def status_of(invoke: Invoke) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = as_json(invoke("status", "--json"))
    for row in rows:
        assert set(row) == STATUS_KEYS
    return rows


def attempts_of(invoke: Invoke, *options: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = as_json(invoke("attempts", *options, "--json"))
    for row in rows:
        assert set(row) == ATTEMPT_KEYS
    return rows


# --- reading the database directly, where the CLI offers no view -------------------


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def stored_events(path: Path) -> list[tuple[int, str, str]]:
    if not path.exists():
        return []
    return [(int(i), t, p) for i, t, p in query(path, "SELECT id, type, payload FROM events ORDER BY id")]


# --- files to import --------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def numbered(count: int) -> str:
    """``count`` JSON Lines, {"n": 0} upwards."""
    return "".join(json.dumps({"n": n}) + "\n" for n in range(count))


# --- ports ------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hook"


def table_rows(store: Any, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """What a statement reads from the store's own tables, on either backend: for a test to check
    what the store's interface does not show (rows left in a queue table, say). ``?`` marks a
    parameter, as in SQLite; only plain SQL that both backends read alike belongs here."""
    conn = store.conn
    if hasattr(conn, "cursor") and type(conn).__module__.startswith("psycopg"):
        from psycopg.rows import tuple_row

        cursor = conn.cursor(row_factory=tuple_row)
        return list(cursor.execute(statement.replace("?", "%s"), params).fetchall())
    return list(conn.execute(statement, params).fetchall())


def writes_seen(store: Any, table: str, row_id: int) -> object:
    """A mark that changes whenever the store writes the row: PostgreSQL's transaction id of the
    row's version, SQLite's count of rows its connection changed (any row: a coarser, safe mark)."""
    if type(store.conn).__module__.startswith("psycopg"):
        return table_rows(store, f"SELECT xmin::text FROM {table} WHERE id = ?", row_id)
    return store.conn.total_changes


def change_rows(store: Any, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """:func:`table_rows` for a statement that changes the store's tables behind its back, as a
    user's own SQL would: committed at once on either backend (end it with RETURNING to see what
    it changed)."""
    rows = table_rows(store, statement, *params)
    store.conn.commit()  # SQLite's driver opened a transaction for the change; in autocommit this does nothing
    return rows
