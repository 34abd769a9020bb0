"""Fixtures of the web tests: a real `dispatcher serve` process and clients of its API."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

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


@pytest.fixture
def serve_anywhere(db_text: str) -> Iterator[Callable[..., Served]]:
    """:func:`serve` once on each backend, all servers of the test on the one database: a module
    whose tests hold for every backend overrides ``serve`` with it."""
    started: list[Served] = []

    def start(*args: str, keys: tuple[str, str] | None = None, env: dict[str, str] | None = None) -> Served:
        served = start_serve(db_text, *args, keys=keys, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


# Chromium flags this machine needs (../shared/reference/pitfalls.md): as root it runs only
# without the sandbox, and without the background-networking flags it keeps calling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (`make test` installs it when missing)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the browser tests need Debian's chromium: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; an unexpected JavaScript error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test in a real browser takes seconds: each is `slow`, so `-m 'not slow'` skips them all."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
