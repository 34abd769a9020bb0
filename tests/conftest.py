"""Shared fixtures: a real SQLite file, a real receiver, and the CLI as users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings
from pytest_httpserver import HTTPServer

from dispatcher.cli import cli
from dispatcher.clock import ManualClock
from dispatcher.store import Store

SECRET = "test-secret"

# The fuzz tests (test_fuzz, test_cli_fuzz). CI tries the same examples on every run, so a
# submission fails on what it changed, not on the luck of the draw. Search wider, at random,
# before a change lands:
#     HYPOTHESIS_PROFILE=explore .venv/bin/pytest tests/test_fuzz.py tests/test_cli_fuzz.py
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=30_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = Store.open(db_path)
    # The test receivers listen on 127.0.0.1, which the SSRF guard refuses by default: lift it as
    # a user with an intranet receiver would (tests of the guard itself switch it back).
    store.set_config("allow_private", "true")
    yield store
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC))


@pytest.fixture
def invoke(db_path: Path):
    """Run the CLI in-process against the test database: invoke("endpoint", "list")."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--db", str(db_path), *args], input=input)

    return run


def dispatcher_command() -> list[str]:
    """The installed console script, as cron would run it."""
    script = shutil.which("dispatcher", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "dispatcher"]


@pytest.fixture
def run_dispatcher(db_path: Path):
    """Run the real `dispatcher` program in a subprocess: run_dispatcher("process")."""

    def run(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*dispatcher_command(), "--db", str(db_path), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    return run


class _QuickStopHTTPServer(HTTPServer):
    """Stops in milliseconds instead of serve_forever's default half-second poll."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.01)


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    """A threaded pytest-httpserver on 127.0.0.1, for tests where requests overlap."""
    server = _QuickStopHTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()
