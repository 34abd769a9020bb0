"""Store.wait_for_events and Store.chore, on both backends: a delivery run woken by a producer's
insert (PostgreSQL's NOTIFY) or left to poll (SQLite), and chores held by one run at a time."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing

import psycopg

from dispatcher import endpoints
from dispatcher.store import Location, Store, open_store


def produce(location: Location) -> None:
    """One event, inserted as an application does: one statement on a connection of its own."""
    statement = "INSERT INTO {}events (type, payload) VALUES ('lead.created', '{{\"id\": 1}}')"
    if location.backend == "sqlite":
        with closing(sqlite3.connect(location.target)) as conn:
            conn.execute(statement.format(""))
            conn.commit()
    else:
        with psycopg.connect(location.target, autocommit=True) as conn:
            conn.execute(statement.format(f"{location.pg_schema}."))


def test_a_wait_with_nothing_queued_times_out(any_store: Store) -> None:
    started = time.monotonic()
    assert any_store.wait_for_events(0.3, threading.Event()) is False
    assert time.monotonic() - started >= 0.3


def test_a_stop_ends_the_wait(any_store: Store) -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert any_store.wait_for_events(30, stop) is False
    assert time.monotonic() - started < 10


def test_postgresql_wakes_a_waiting_run_when_a_producer_queues(postgres_url: str, pg_schema: str) -> None:
    """SQLite cannot tell a waiting process: its runs look again after a pause (the tests above)."""
    location = Location("postgresql", postgres_url, pg_schema)
    store = open_store(location)
    try:
        endpoints.add(store, "https://example.com/hook")
        store.wait_for_events(0.01, threading.Event())  # listening from here on
        threading.Timer(0.2, produce, (location,)).start()
        started = time.monotonic()
        assert store.wait_for_events(30, threading.Event()) is True
        assert time.monotonic() - started < 10  # woken by the insert, not by the 30 s timeout
    finally:
        store.close()


def test_an_event_no_endpoint_gets_wakes_nobody(postgres_url: str, pg_schema: str) -> None:
    """PostgreSQL notifies only when an insert queued something (SQLite never wakes a waiter)."""
    location = Location("postgresql", postgres_url, pg_schema)
    store = open_store(location)
    try:
        store.wait_for_events(0.01, threading.Event())
        produce(location)
        assert store.wait_for_events(0.3, threading.Event()) is False
        endpoints.add(store, "https://example.com/hook")
        produce(location)
        assert store.wait_for_events(30, threading.Event()) is True  # the same wait, once someone gets it
    finally:
        store.close()


def test_a_chore_is_held_by_one_run_at_a_time(any_store: Store, location: Location) -> None:
    other = open_store(location)
    try:
        with any_store.chore("prune") as first:
            with other.chore("prune") as second:
                held_together = (first, second)
            with other.chore("notify") as another_chore:
                assert another_chore
        with other.chore("prune") as after:
            assert after
    finally:
        other.close()
    # SQLite's runs may all do the chores: their writes queue for the one write lock anyway.
    assert held_together == ((True, True) if location.backend == "sqlite" else (True, False))
