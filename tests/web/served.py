"""A real `dispatcher serve` process for the web tests, and a small client for its API.

Plain helpers (no fixtures here): tests/web/conftest.py builds the fixtures on them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page

from dispatcher import api_keys, endpoints
from dispatcher.clock import SystemClock
from dispatcher.store import open_store

from ..helpers import dispatcher_command

LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Api:
    """requests against one server, with a Bearer key (None: no Authorization header)."""

    base: str
    key: str | None
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        headers = dict(options.pop("headers", {}))
        if self.key is not None:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **options)

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> requests.Response:
        return self.request("POST", path, **options)

    def patch(self, path: str, **options: Any) -> requests.Response:
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> requests.Response:
        return self.request("DELETE", path, **options)


@dataclass
class Served:
    """A running server: its URL, its database, a read-write key and a read-only key."""

    url: str
    db: Path | str  # a SQLite file, or the --db text of a PostgreSQL schema
    key: str
    read_only_key: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)  # the lines it printed before it listened

    def api(self) -> Api:
        """A client with the read-write key."""
        return Api(self.url, self.key)

    def api_as(self, key: str | None) -> Api:
        """A client with ``key``: the read-only one, a wrong one, or None for no key at all."""
        return Api(self.url, key)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Stop it as systemd or a Ctrl-C would; its exit status and the rest of what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def make_keys(db: Path | str) -> tuple[str, str]:
    """A read-write and a read-only key in the database at ``db`` (created if missing)."""
    store = open_store(db)
    try:
        now = SystemClock().now()
        return (
            api_keys.create(store, now, "tests").text,
            api_keys.create(store, now, "viewer", read_only=True).text,
        )
    finally:
        store.close()


def start_serve(
    db: Path | str, *args: str, keys: tuple[str, str] | None = None, env: dict[str, str] | None = None
) -> Served:
    """Start `dispatcher serve --port 0 ARGS` on ``db`` and wait for its "listening on" line."""
    key, read_only_key = keys if keys is not None else make_keys(db)
    process = subprocess.Popen(
        [*dispatcher_command(), "--db", str(db), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        found = LISTENING.search(line)
        if found:
            return Served(found.group(1), db, key, read_only_key, process, printed)
    _, err = process.communicate(timeout=30)
    raise AssertionError(f"serve exited {process.returncode} without listening: {''.join(printed)}{err}")


def log_in(page: Page, served: Served, key: str | None = None) -> None:
    """Log the browser in at /admin/login with the read-write key (or ``key``)."""
    page.goto(f"{served.url}/admin/login")
    page.fill("#key", key or served.key)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save the whole page as NAME.png in ``folder`` (the test's tmp_path), for a person to look at."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def problem(response: requests.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 problem details of ``response``, checked to be ``status`` and well formed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["title"]) == (status, HTTPStatus(status).phrase) and body["detail"]
    return body


def admin_client(served: Served, key: str | None = None) -> tuple[requests.Session, str]:
    """A requests session logged in to the admin UI (read-write key, or ``key``), and its CSRF token."""
    session = requests.Session()
    login = session.get(f"{served.url}/admin/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    answer = session.post(
        f"{served.url}/admin/login",
        data={"key": key or served.key, "csrf_token": token.group(1), "next": "/admin/webhooks"},
        timeout=30,
    )
    found = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
    assert answer.status_code == 200 and found is not None, answer.text
    return session, found.group(1)


def run_cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `dispatcher` program on the server's database (a cron `process` run, an endpoint add)."""
    return subprocess.run(
        [*dispatcher_command(), "--db", str(served.db), *args], capture_output=True, text=True, timeout=60, check=True
    )


def add_endpoint(db: Path | str, url: str, **options: Any) -> int:
    """An endpoint added through the library beside the running server (127.0.0.1 allowed)."""
    store = open_store(db)
    try:
        return endpoints.add(store, url, secret="test-secret", allow_private=True, **options).id
    finally:
        store.close()


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it holds (a server delivering in its own process takes its time)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.05)
