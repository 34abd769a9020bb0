"""Several hosts drain one PostgreSQL queue: three `dispatcher process` runs at a time, each a process
of its own as on three machines, against one schema with 20 endpoints, while two producers insert.

Without faults every event reaches every endpoint exactly once. With runs SIGKILLed at random,
nothing is lost, and the only duplicates are batches sent again after a kill (a killed run's
outcome never reached the database); they are counted and printed.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

import dispatcher
from dispatcher import endpoints
from dispatcher.store import Location, Store, open_store

from .helpers import SECRET, dispatcher_command, table_rows
from .process_helpers import TimingReceiver

pytestmark = pytest.mark.slow

HOSTS = 3
ENDPOINTS = 20
EVENTS_PER_PRODUCER = 300
WORKERS = 4  # per run: 12 requests in flight over the three, for 20 endpoints
TIMEOUT = 2.0  # seconds; a killed run's batches come back once their lease (2 x 2 s + 30 s) runs out: see expire_leases


@pytest.fixture
def hosts_location(postgres_url: str, pg_schema: str) -> Location:
    return Location("postgresql", postgres_url, pg_schema)


@pytest.fixture
def hosts_store(hosts_location: Location, timing_receiver: TimingReceiver) -> Iterator[Store]:
    store = open_store(hosts_location)
    for n in range(ENDPOINTS):
        # Two of them take several batches at once, shared by every run on every host.
        endpoints.add(
            store,
            timing_receiver.url(f"/e{n}"),
            secret=SECRET,
            allow_private=True,
            timeout=TIMEOUT,
            concurrency=3 if n < 2 else 1,
        )
    yield store
    store.close()


def db_option(location: Location) -> str:
    return f"{location.target}?schema={location.pg_schema}"


def produce_by_insert(location: Location, numbers: range, rng: random.Random) -> None:
    """One INSERT per event on the application's own connection: the producer contract."""
    with psycopg.connect(location.target, autocommit=True) as conn:
        statement = sql.SQL("INSERT INTO {}.events (type, payload) VALUES (%s, %s)").format(
            sql.Identifier(location.pg_schema)
        )
        for n in numbers:
            conn.execute(statement, ("lead.created", json.dumps({"n": n})))
            time.sleep(rng.uniform(0, 0.02))


def produce_by_queue(location: Location, numbers: range, rng: random.Random) -> None:
    """Bursts of 1 to 40 through the Python API."""
    with dispatcher.open(location) as queue:
        start = numbers.start
        while start < numbers.stop:
            burst = range(start, min(start + rng.randint(1, 40), numbers.stop))
            queue.enqueue_many("deal.won", [{"n": n} for n in burst])
            start = burst.stop
            time.sleep(rng.uniform(0, 0.2))


def start_run(location: Location, time_limit: str) -> subprocess.Popen[bytes]:
    command = [*dispatcher_command(), "--db", db_option(location), "process", "--workers", str(WORKERS)]
    return subprocess.Popen([*command, "--time-limit", time_limit, "--quiet"], stderr=subprocess.PIPE)


@dataclass
class Drained:
    kills: int
    runs: int


def drain_while_producing(location: Location, rng: random.Random, kill: bool) -> Drained:
    """Rounds of three runs at once, as cron on three hosts, until the producers are done and a round
    finds nothing left. With ``kill``, the runs are short (so that there are many rounds) and some
    are SIGKILLed at a random moment of theirs."""
    producers = [
        threading.Thread(target=produce_by_insert, args=(location, range(0, EVENTS_PER_PRODUCER), rng)),
        threading.Thread(
            target=produce_by_queue, args=(location, range(10_000, 10_000 + EVENTS_PER_PRODUCER), random.Random(7))
        ),
    ]
    for producer in producers:
        producer.start()
    kills = runs = 0
    while True:
        producing = any(producer.is_alive() for producer in producers)
        started = [start_run(location, "1s" if kill else "20s") for _ in range(HOSTS)]
        runs += len(started)
        if kill and producing:
            time.sleep(rng.uniform(0.3, 1.2))
            for run in started:
                if rng.random() < 0.6 and run.poll() is None:
                    run.send_signal(signal.SIGKILL)
                    kills += 1
        for run in started:
            _, errors = run.communicate(timeout=120)
            assert run.returncode in (0, -signal.SIGKILL), errors.decode()
            assert run.returncode != 0 or not errors, errors.decode()
        if not producing and open_work(location) == 0:
            break
        if kill:
            expire_leases(location)
    for producer in producers:
        producer.join()
    return Drained(kills, runs)


def open_work(location: Location) -> int:
    store = open_store(location)
    try:
        (queued,) = table_rows(store, "SELECT count(*) FROM pending")[0]
        (open_batches,) = table_rows(store, "SELECT count(*) FROM batches WHERE state = 'pending'")[0]
        return int(queued) + int(open_batches)
    finally:
        store.close()


def expire_leases(location: Location) -> None:
    """The stand-in for time: a killed run's leases would hold its batches for 34 s; end them now,
    as if those seconds had passed, so the next round sends them again."""
    with psycopg.connect(location.target, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "UPDATE {}.batches SET lease_expires_at = now() - interval '1 second' WHERE state = 'pending'"
            ).format(sql.Identifier(location.pg_schema))
        )


def deliveries(store: Store, receiver: TimingReceiver) -> Counter[tuple[int, int]]:
    """How many times each (endpoint, event) reached the receiver."""
    endpoint_of = dict(table_rows(store, "SELECT id, endpoint_id FROM batches"))
    return Counter((endpoint_of[seen.batch_id], event_id) for seen in receiver.requests for event_id in seen.event_ids)


def event_ids(store: Store) -> list[int]:
    return [row[0] for row in table_rows(store, "SELECT id FROM events ORDER BY id")]


def test_three_hosts_deliver_every_event_once_per_endpoint(
    hosts_location: Location, hosts_store: Store, timing_receiver: TimingReceiver
) -> None:
    drained = drain_while_producing(hosts_location, random.Random(20261203), kill=False)

    got = deliveries(hosts_store, timing_receiver)
    wanted = {(endpoint.id, event_id) for endpoint in hosts_store.endpoints() for event_id in event_ids(hosts_store)}
    assert len(wanted) == ENDPOINTS * 2 * EVENTS_PER_PRODUCER
    assert set(got) == wanted
    assert [pair for pair, count in got.items() if count > 1] == []
    assert all(seen.status == 200 for seen in timing_receiver.requests)
    requests = len(timing_receiver.requests)
    print(f"\n{drained.runs} runs, {requests} requests, {sum(got.values())} deliveries, no duplicates")


def test_runs_killed_at_random_lose_nothing_and_resend_only_what_they_had_in_flight(
    hosts_location: Location, hosts_store: Store, timing_receiver: TimingReceiver
) -> None:
    drained = drain_while_producing(hosts_location, random.Random(7), kill=True)

    got = deliveries(hosts_store, timing_receiver)
    wanted = {(endpoint.id, event_id) for endpoint in hosts_store.endpoints() for event_id in event_ids(hosts_store)}
    assert set(got) == wanted  # nothing lost
    resent = Counter(seen.batch_id for seen in timing_receiver.requests if seen.attempt > 1)
    duplicates = sum(count - 1 for count in got.values())
    # A duplicate is a batch sent again under its own id, never an event put in a second batch.
    assert duplicates == sum(len(seen.event_ids) for seen in timing_receiver.requests if seen.attempt > 1)
    # At most what the killed runs had in flight: WORKERS requests each.
    assert len(resent) <= drained.kills * WORKERS
    assert drained.kills > 0
    print(
        f"\n{drained.runs} runs, {drained.kills} killed, {len(timing_receiver.requests)} requests, "
        f"{len(resent)} batches sent again after a kill, {duplicates} duplicate deliveries, none lost"
    )
