"""Shared fixtures: a real SQLite file, a real receiver, and the CLI as users run it."""

from __future__ import annotations

import ipaddress
import os
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result
from hypothesis import settings
from pytest_httpserver import HTTPServer

from dispatcher.cli import cli
from dispatcher.clock import ManualClock
from dispatcher.store import Location, Store, open_store
from dispatcher.store.postgres import schema as postgres_schema

from . import postgres
from .helpers import Invoke, RunDispatcher, dispatcher_command, free_port
from .process_helpers import TimingReceiver
from .smtp_inbox import Inbox

# The fuzz tests (test_fuzz, test_cli_fuzz). CI tries the same examples on every run, so a
# submission fails on what it changed, not on the luck of the draw. Search wider, at random,
# before a change lands:
#     HYPOTHESIS_PROFILE=explore .venv/bin/pytest tests/test_fuzz.py tests/test_cli_fuzz.py
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=30_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The names tests may look up, and their addresses: no test asks real DNS (see no_real_dns).
TEST_DNS = {"public.test": "93.184.215.14", "private.test": "10.0.0.5"}
# Reserved for documentation and tests (RFC 2606, RFC 6761); other names under them are not found.
_RESERVED = ("test", "example", "invalid", "localhost", "example.com", "example.net", "example.org")


def _unconverted_time(moment: datetime) -> str:
    raise TypeError(f"a datetime reached sqlite3 unconverted ({moment!r}): the store writes times as clock.to_text")


# sqlite3's own adapter would store a datetime in another text form than the store's, which its SQL
# compares as text: in the tests, one that slips through fails loudly instead.
sqlite3.register_adapter(datetime, _unconverted_time)


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """getaddrinfo without DNS: IP addresses and localhost as usual, TEST_DNS's names from the
    table, other reserved names not found; any other name fails the test that looked it up.

    A real lookup makes a test depend on the network (example.com stalled one for 5 s) and
    could send a test's requests to a stranger's server.
    """
    real = socket.getaddrinfo
    strangers: list[str] = []  # also caught when asked from a thread, where a failure goes unseen

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = (host.decode() if isinstance(host, bytes) else host or "").lower().removesuffix(".")
        if not name or name == "localhost" or _is_address(name):
            return real(host, port, *args, **kwargs)
        if name in TEST_DNS:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (TEST_DNS[name], int(port or 0)))]
        if any(name == reserved or name.endswith(f".{reserved}") for reserved in _RESERVED):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        strangers.append(name)
        pytest.fail(f"looked up {host!r} in DNS: use an IP address, a name in TEST_DNS or one under .invalid")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield TEST_DNS
    assert not strangers, f"looked up {strangers} in DNS"


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])  # fe80::1%eth0: a zone is no lookup either
    except ValueError:
        return False
    return True


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = open_store(db_path)
    # The test receivers listen on 127.0.0.1, which the SSRF guard refuses by default: lift it as
    # a user with an intranet receiver would (tests of the guard itself switch it back).
    store.set_config("allow_private", "true")
    yield store
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC))


@pytest.fixture
def invoke(db_path: Path) -> Invoke:
    """Run the CLI in-process against the test database: invoke("endpoint", "list")."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--db", str(db_path), *args], input=input)

    return run


@pytest.fixture
def run_dispatcher(db_path: Path) -> RunDispatcher:
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


@pytest.fixture
def timing_receiver() -> Iterator[TimingReceiver]:
    """A threaded receiver on 127.0.0.1 that times every request and answers by its ``rule``
    (200 at once until a test sets one)."""
    server = TimingReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Start a real SMTP server on 127.0.0.1 with the given aiosmtpd options; returns its inbox and port."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return inbox, controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def start_process(db_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `dispatcher process` for real, to signal it; killed if a test leaves it running."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*dispatcher_command(), "--db", str(db_path), "process", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session (tests/postgres.py says where from). Without one the tests
    that need it skip, saying how to give them one; under CI they fail instead."""
    with postgres.server(os.environ) as url:
        if url is None:
            if os.environ.get("CI") == "true":
                pytest.fail(postgres.HOW_TO_ENABLE)
            pytest.skip(postgres.HOW_TO_ENABLE)
        yield url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every skip for want of PostgreSQL at one place, so that `-ra` sums them up in one line."""
    report: pytest.TestReport = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].endswith(postgres.HOW_TO_ENABLE):
        report.longrepr = (postgres.__file__, 0, report.longrepr[2])
    return report


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A schema name of the test's own, not yet created; dropped with all it holds afterwards."""
    schema = postgres.new_schema_name()
    yield schema
    postgres.drop_schema(postgres_url, schema)


@pytest.fixture
def pg(postgres_url: str, pg_schema: str) -> Iterator[postgres.Conn]:
    """The dispatcher's own connection (search_path: its schema), with the schema applied."""
    conn = postgres_schema.connect(postgres_url, pg_schema)
    postgres_schema.apply_schema(conn, pg_schema)
    yield conn
    conn.close()


@pytest.fixture
def app(postgres_url: str) -> Iterator[postgres.Conn]:
    """An application's connection: the server's defaults, search_path and all."""
    with postgres.connect_as_application(postgres_url) as conn:
        yield conn


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where a store is, once for each backend: a SQLite file, then a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        return Location("sqlite", str(tmp_path / "dispatcher.db"))
    url = request.getfixturevalue("postgres_url")
    return Location("postgresql", url, request.getfixturevalue("pg_schema"))


@pytest.fixture
def any_store(location: Location) -> Iterator[Store]:
    """The store, once on each backend: the store's own tests take this rather than ``store``, which
    is SQLite's only, so that one suite holds every backend to the same promises."""
    store = open_store(location)
    yield store
    store.close()


@pytest.fixture
def db_text(location: Location) -> str:
    """--db for ``location``, as a user writes it: the file's path, or the URL with its schema option."""
    if location.backend == "sqlite":
        return location.target
    return f"{location.target}?schema={location.pg_schema}"


@pytest.fixture
def invoke_anywhere(db_text: str) -> Invoke:
    """:func:`invoke` once on each backend. A test module whose tests go through the CLI alone
    overrides ``invoke`` with it, so that the same tests hold every backend to the same output."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--db", db_text, *args], input=input)

    return run
