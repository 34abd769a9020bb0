"""Fixtures of the web tests: a real `dispatcher serve` process and clients of its API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .served import Api, Served, start_serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for a test module (starting one takes most of a second): tests that share it
    make the endpoints and events they look at, and look only at those."""
    served = start_serve(tmp_path_factory.mktemp("served") / "dispatcher.db")
    yield served
    served.stop()


@pytest.fixture
def api(server: Served) -> Api:
    """The shared server's API with a read-write key."""
    return server.api()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start a server of the test's own, on its own database, with serve's options: serve("--deliver")."""
    started: list[Served] = []

    def start(*args: str, keys: tuple[str, str] | None = None, env: dict[str, str] | None = None) -> Served:
        served = start_serve(tmp_path / f"serve{len(started)}.db", *args, keys=keys, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
