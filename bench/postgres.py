"""Cases 10 to 11b: the PostgreSQL backend, next to raw psycopg and to SQLite.

10 and 10b are the producer's side: one event per call against a raw autocommit INSERT, and a bulk
enqueue against a raw COPY, into a plain table of the same two columns in the same database. 11 is
what several hosts buy: 40 endpoints answering after 100 ms drained by three ``dispatcher process``
runs (each ``--workers 8``, each a process of its own, as three hosts run them) against one run.
11b is the same one-run drain on SQLite, so PostgreSQL's cost per request shows as a ratio.

The server is $DISPATCHER_BENCH_POSTGRES (a URL), else the one on 127.0.0.1:5432; each case works
in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

import dispatcher
from dispatcher.store import Location, open_store

from .cases import SLOW_LATENCY, Sample, Sizes, dispatcher_command, fresh_queue, payload, timed
from .receivers import delayed_receiver
from .throughput import _same_dispatcher_env

ENV = "DISPATCHER_BENCH_POSTGRES"
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST_ENDPOINTS = 40
HOST_WORKERS = 8  # the default --workers
HOSTS = 3


@contextmanager
def pg_location() -> Iterator[Location]:
    """A fresh schema on the benchmark's server, dropped afterwards."""
    url = os.environ.get(ENV, LOCAL)
    location = Location("postgresql", url, f"bench_{secrets.token_hex(4)}")
    try:
        yield location
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(location.pg_schema)))


@contextmanager
def raw_table(location: Location) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection and a plain (type, payload) table beside the dispatcher's."""
    with psycopg.connect(location.target, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(location.pg_schema)))
        conn.execute("CREATE TABLE raw_events (type text, payload text)")
        yield conn


def delivered(location: Location) -> int:
    """Deliveries made, over every endpoint."""
    store = open_store(location)
    try:
        return sum(row.delivered for row in store.status(datetime.now(UTC)))
    finally:
        store.close()


# --- 10. enqueue one event per call ----------------------------------------------------------


def enqueue_one(folder: Path, sizes: Sizes) -> Sample:
    rows = [("lead.created", payload(n)) for n in range(sizes.enqueue // 4)]
    with pg_location() as location:
        fresh_queue(location, ["http://127.0.0.1:9/hook"])
        with dispatcher.open(location) as queue:
            ours = timed(lambda: [queue.enqueue(event_type, text) for event_type, text in rows])
        with raw_table(location) as conn:
            reference = timed(
                lambda: [conn.execute("INSERT INTO raw_events (type, payload) VALUES (%s, %s)", row) for row in rows]
            )
    return Sample(len(rows) / ours, {"raw psycopg autocommit inserts": len(rows) / reference})


# --- 10b. bulk enqueue ------------------------------------------------------------------------


def enqueue_bulk(folder: Path, sizes: Sizes) -> Sample:
    texts = [payload(n) for n in range(sizes.bulk)]
    with pg_location() as location:
        fresh_queue(location, ["http://127.0.0.1:9/hook"])
        with dispatcher.open(location) as queue:
            ours = timed(lambda: queue.enqueue_many("lead.created", texts))
        with raw_table(location) as conn:

            def copy() -> None:
                with conn.transaction(), conn.cursor().copy("COPY raw_events (type, payload) FROM STDIN") as rows:
                    for text in texts:
                        rows.write_row(("lead.created", text))

            reference = timed(copy)
    return Sample(len(texts) / ours, {"raw COPY, one transaction": len(texts) / reference})


# --- 11. one run against three hosts -----------------------------------------------------------


def drain_hosts(folder: Path, sizes: Sizes) -> Sample:
    """40 endpoints answering after 100 ms, every event to each: three runs at once (each
    ``dispatcher process --workers 8`` in a process of its own) against one. Both times include
    the runs' start, as cron pays it."""
    events = _host_events(sizes)
    with delayed_receiver(SLOW_LATENCY) as url:
        urls = [f"{url}/{n}" for n in range(HOST_ENDPOINTS)]
        with pg_location() as location:
            three = _drain(location, urls, events, HOSTS)
        with pg_location() as location:
            one = _drain(location, urls, events, 1)
    deliveries = events * HOST_ENDPOINTS
    return Sample(
        deliveries / three,
        {"one host": deliveries / one},
        {"deliveries per run": deliveries},
    )


def drain_vs_sqlite(folder: Path, sizes: Sizes) -> Sample:
    """Case 11's one-host drain on PostgreSQL next to the same on SQLite."""
    events = _host_events(sizes)
    with delayed_receiver(SLOW_LATENCY) as url:
        urls = [f"{url}/{n}" for n in range(HOST_ENDPOINTS)]
        with pg_location() as location:
            postgres = _drain(location, urls, events, 1)
        sqlite = _drain(Location("sqlite", str(folder / "hosts.db")), urls, events, 1)
    deliveries = events * HOST_ENDPOINTS
    return Sample(deliveries / postgres, {"SQLite, the same run": deliveries / sqlite})


def _host_events(sizes: Sizes) -> int:
    return max(sizes.slow_events, 4)


def _drain(location: Location, urls: list[str], events: int, hosts: int) -> float:
    """Seconds for ``hosts`` runs started together to deliver every event to every endpoint."""
    if location.backend == "sqlite":
        Path(location.target).unlink(missing_ok=True)
    fresh_queue(location, urls)
    with dispatcher.open(location) as queue:
        queue.enqueue_many("lead.created", (payload(n) for n in range(events)))
    db = location.target if location.backend == "sqlite" else f"{location.target}?schema={location.pg_schema}"
    command = [*dispatcher_command(), "--db", db, "process", "--workers", str(HOST_WORKERS)]
    command += ["--time-limit", "600", "--quiet"]
    start = time.perf_counter()
    runs = [subprocess.Popen(command, env=_same_dispatcher_env()) for _ in range(hosts)]
    codes = [run.wait() for run in runs]
    seconds = time.perf_counter() - start
    assert codes == [0] * hosts, f"dispatcher process exited {codes}"
    assert delivered(location) == events * len(urls), "the drain did not deliver everything"
    return seconds
