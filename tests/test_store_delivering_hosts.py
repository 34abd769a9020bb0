"""Several hosts draining one queue: each with its own store (its own connection), claiming the same
endpoints at once, and a host whose lease ran out. The last tests are PostgreSQL's own: its claims
skip an endpoint another host is claiming, and never wait for a producer's open transaction."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from psycopg import sql

from dispatcher.clock import ManualClock
from dispatcher.config import BUILT_IN
from dispatcher.delivery_rules import lease_seconds
from dispatcher.producer import Queue
from dispatcher.store import Location, Store, open_store
from dispatcher.store.types import Claim

from . import postgres
from .claim_helpers import add, failed, ok
from .helpers import table_rows

HOSTS = 6


@pytest.fixture
def hosts(location: Location) -> Iterator[list[Store]]:
    """One store per host, each on a connection of its own, all on the same database."""
    stores = [open_store(location) for _ in range(HOSTS)]
    yield stores
    for store in stores:
        store.close()


def test_hosts_claiming_the_same_endpoints_at_once_share_out_every_batch_once_within_each_concurrency(
    hosts: list[Store], clock: ManualClock
) -> None:
    concurrency = {add(hosts[0], batch_size=3, concurrency=n): n for n in (1, 2, 4)}
    Queue(hosts[0]).enqueue_many("a", [{}] * 40)
    now = clock.now()  # leases never run out: every batch is claimed once, or the test shows it
    guard = threading.Lock()
    in_flight: Counter[int] = Counter()
    most_in_flight: Counter[int] = Counter()
    claims: list[Claim] = []
    errors: list[BaseException] = []
    start = threading.Barrier(HOSTS)

    def drain(host: int, store: Store) -> None:
        """Claim every batch the host may have now, then record them all, until nothing is due."""
        leases = (f"host-{host}-{n}" for n in range(10_000))
        try:
            start.wait()
            while due := store.due_endpoints(now, BUILT_IN):
                held = []
                for endpoint in due:
                    for _ in range(endpoint.free):
                        lease = next(leases)
                        claimed = store.claim_batch(endpoint.endpoint_id, lease, now, BUILT_IN)
                        if claimed is None:
                            break
                        held.append((lease, claimed))
                        with guard:  # counted after its claim committed, so never more than the store counts
                            claims.append(claimed)
                            in_flight[endpoint.endpoint_id] += 1
                            most_in_flight[endpoint.endpoint_id] = max(
                                most_in_flight[endpoint.endpoint_id], in_flight[endpoint.endpoint_id]
                            )
                for lease, claimed in held:
                    with guard:  # uncounted before its outcome commits, for the same reason
                        in_flight[claimed.batch.endpoint_id] -= 1
                    assert store.record_outcome(claimed.batch, lease, ok(), None, now) is not None
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(n, store)) for n, store in enumerate(hosts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({claimed.batch.id for claimed in claims}) == len(claims)
    sent: defaultdict[int, list[int]] = defaultdict(list)
    for claimed in claims:
        sent[claimed.batch.endpoint_id].extend(event.id for event in claimed.batch.events)
    assert {endpoint: sorted(ids) for endpoint, ids in sent.items()} == {
        endpoint: list(range(1, 41)) for endpoint in concurrency
    }
    assert all(most_in_flight[endpoint] <= limit for endpoint, limit in concurrency.items()), most_in_flight
    assert max(most_in_flight.values()) > 1  # the hosts did overlap: the limits above were put to the test
    assert table_rows(hosts[0], "SELECT state, count(*) FROM batches GROUP BY state") == [("delivered", len(claims))]
    assert table_rows(hosts[0], "SELECT count(*) FROM pending") == [(0,)]


def test_a_host_whose_lease_ran_out_writes_nothing_of_its_late_outcome(hosts: list[Store], clock: ManualClock) -> None:
    late, current = hosts[:2]
    endpoint_id = add(late, timeout=1.0, batch_size=5)
    Queue(late).enqueue_many("a", [{}] * 3)
    stale = late.claim_batch(endpoint_id, "late", clock.now(), BUILT_IN)
    assert stale is not None
    clock.advance(lease_seconds(1.0) + 0.001)
    taken = current.claim_batch(endpoint_id, "current", clock.now(), BUILT_IN)
    assert taken is not None and taken.batch == stale.batch

    retry_at = clock.now()
    assert late.record_outcome(stale.batch, "late", failed(), retry_at, clock.now(), disable_after=1) is None
    assert late.record_outcome(stale.batch, "late", ok(), None, clock.now()) is None
    assert late.record_and_claim(stale.batch, "late", ok(), None, clock.now(), 0, BUILT_IN) == (None, None)
    late.release_batch(stale.batch.id, "late")

    assert table_rows(late, "SELECT count(*) FROM attempts") == [(0,)]
    assert table_rows(late, "SELECT state, attempts, lease_id FROM batches") == [("pending", 0, "current")]
    (status,) = late.status(clock.now())
    assert (status.enabled, status.consecutive_failures, status.last_error, status.last_success_at) == (
        True,
        0,
        None,
        None,
    )
    recorded = current.record_outcome(taken.batch, "current", ok(), None, clock.now())
    assert recorded is not None and recorded.state == "delivered"


@pytest.fixture
def pg_hosts(postgres_url: str, pg_schema: str) -> Iterator[list[Store]]:
    stores = [open_store(Location("postgresql", postgres_url, pg_schema)) for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


def test_on_postgresql_a_claim_skips_an_endpoint_another_host_holds_rather_than_waiting(
    pg_hosts: list[Store], pg: postgres.Conn, clock: ManualClock
) -> None:
    store = pg_hosts[0]
    endpoint_id = add(store, concurrency=2, batch_size=1)
    Queue(store).enqueue_many("a", [{}] * 2)
    answer: list[Claim | None] = []
    # Another host's transaction locks the endpoint's row, as its claim or record does, and stays open.
    pg.execute("SELECT 1 FROM endpoints WHERE id = %s FOR NO KEY UPDATE", (endpoint_id,))
    asking = threading.Thread(target=lambda: answer.append(store.claim_batch(endpoint_id, "b", clock.now(), BUILT_IN)))
    asking.start()
    asking.join(30)  # only a bound on a hang: a claim that waited would wait here until the commit below
    pg.commit()
    asking.join()
    assert answer == [None]
    claimed = store.claim_batch(endpoint_id, "b", clock.now(), BUILT_IN)
    assert claimed is not None and [event.id for event in claimed.batch.events] == [1]


def test_on_postgresql_a_producer_s_open_transaction_holds_back_no_claim(
    pg_hosts: list[Store], app: postgres.Conn, pg_schema: str, clock: ManualClock
) -> None:
    store = pg_hosts[0]
    endpoint_id = add(store, concurrency=2, batch_size=1)
    Queue(store).enqueue("a", {})
    # The application's insert fans out and keeps the endpoint's row locked FOR KEY SHARE until it commits.
    app.execute(sql.SQL("INSERT INTO {}.events (type, payload) VALUES ('a', '{{}}')").format(sql.Identifier(pg_schema)))
    claimed = store.claim_batch(endpoint_id, "lease", clock.now(), BUILT_IN)
    assert claimed is not None and [event.id for event in claimed.batch.events] == [1]
    assert store.claim_batch(endpoint_id, "lease-2", clock.now(), BUILT_IN) is None  # event 2 is not yet committed
    app.commit()
    following = store.claim_batch(endpoint_id, "lease-2", clock.now(), BUILT_IN)
    assert following is not None and [event.id for event in following.batch.events] == [2]
