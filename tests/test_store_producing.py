"""The store's producer and admin statements, on every backend: events in (one, counted, bulk,
staged), refusals, ids, endpoints written and changed, config."""

from __future__ import annotations

import threading
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatcher.errors import NotFound
from dispatcher.models import Endpoint
from dispatcher.store import Location, Store, open_store
from dispatcher.store.errors import PayloadRefused
from dispatcher.store.types import EndpointChange

from .helpers import table_rows

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def add(store: Store, *patterns: str, **fields: Any) -> int:
    return store.insert_endpoint({"url": "https://example.com/hook", "secret": "s", "events": patterns, **fields})


def queued_for(store: Store, event_id: int) -> list[int]:
    """The endpoints the event waits in ``pending`` for."""
    rows = table_rows(store, "SELECT endpoint_id FROM pending WHERE event_id = ? ORDER BY endpoint_id", event_id)
    return [endpoint_id for (endpoint_id,) in rows]


def stored(store: Store) -> list[tuple[str, str]]:
    return [(type_, payload) for type_, payload in table_rows(store, "SELECT type, payload FROM events ORDER BY id")]


# --- what the schema refuses ----------------------------------------------------------

REFUSED = {
    "scalar": ("a", "1"),
    "string": ("a", '"text"'),
    "invalid json": ("a", "{not json"),
    "over 1 MiB": ("a", '["' + "x" * (1024 * 1024) + '"]'),
    "empty type": ("", "{}"),
    "lone surrogate": ("a", '{"x": "\ud800"}'),
    "NUL": ("a", '{"x": "\x00"}'),
}
INSERTS = {
    "insert_event": lambda store, row: store.insert_event(*row),
    "insert_event_counted": lambda store, row: store.insert_event_counted(*row),
    "insert_events": lambda store, row: store.insert_events([("ok", "{}", NOW), (*row, NOW)]),
    "stage_events": lambda store, row: store.stage_events([("ok", "{}", NOW), (*row, NOW)]),
    "insert_events_once": lambda store, row: store.insert_events_once([("ok", "{}"), row], NOW, pytest.fail),
}


@pytest.mark.parametrize("insert", INSERTS.values(), ids=INSERTS.keys())
@pytest.mark.parametrize("row", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_event_raises_payload_refused_and_stores_nothing(
    any_store: Store, row: tuple[str, str], insert: Any
) -> None:
    add(any_store, "*")
    with pytest.raises(PayloadRefused):
        insert(any_store, row)
    assert stored(any_store) == []
    assert table_rows(any_store, "SELECT count(*) FROM pending") == [(0,)]
    assert any_store.insert_event("after", "[]") > 0  # the connection is not left in a broken transaction


def test_payloads_are_kept_byte_for_byte(any_store: Store) -> None:
    payloads = ['{ "b" : 1, "a" : [1.50, 2] }', '{"a": 1, "a": 2}', '["\\u00e9", "é"]']
    ids = [any_store.insert_event("a", payload) for payload in payloads]
    assert table_rows(any_store, "SELECT payload FROM events ORDER BY id") == [(payload,) for payload in payloads]
    assert ids == sorted(ids) and len(set(ids)) == 3


# --- ids and counts -------------------------------------------------------------------


def test_ids_are_never_reused_even_after_the_newest_events_go(any_store: Store) -> None:
    first = any_store.insert_event("a", "{}")
    dropped = any_store.stage_events([("a", "{}", NOW)] * 3)
    any_store.drop_staged([dropped])
    assert table_rows(any_store, "SELECT id FROM events") == [(first,)]
    # A receiver that saw the dropped ids would take a new event reusing one for a duplicate.
    assert any_store.insert_event("a", "{}") > first + 3


def test_the_count_is_of_the_endpoints_the_event_is_queued_for(any_store: Store) -> None:
    leads = add(any_store, "lead.*")
    everything = add(any_store, "*")
    both = add(any_store, "lead.created", "lead.*")
    add(any_store, "order.*")
    off = add(any_store, "lead.*")
    any_store.disable_endpoint(off, "paused", NOW)  # a disabled endpoint keeps its queue
    event_id, count = any_store.insert_event_counted("lead.created", "{}")
    assert queued_for(any_store, event_id) == sorted([leads, everything, both, off])
    assert count == 4
    unmatched, none = any_store.insert_event_counted("Lead.created", "{}")
    assert (none, queued_for(any_store, unmatched)) == (1, [everything])


def test_a_bulk_insert_fans_out_and_counts(any_store: Store) -> None:
    leads = add(any_store, "lead.*")
    orders = add(any_store, "order.*")
    rows = [("lead.created", f"[{n}]", NOW) for n in range(5)] + [("order.paid", "{}", NOW), ("other", "{}", NOW)]
    assert any_store.insert_events(iter(rows)) == 7
    assert table_rows(any_store, "SELECT endpoint_id, count(*) FROM pending GROUP BY endpoint_id ORDER BY 1") == [
        (leads, 5),
        (orders, 1),
    ]
    assert stored(any_store) == [(type_, payload) for type_, payload, _ in rows]
    assert any_store.insert_events([]) == 0


# --- staging --------------------------------------------------------------------------


def test_staged_events_reach_no_endpoint_until_queued(any_store: Store) -> None:
    hook = add(any_store, "t")
    first = any_store.stage_events([("t", f"[{n}]", NOW) for n in range(3)])
    meanwhile = any_store.insert_event("t", "{}")  # a producer's, while the import is under way
    second = any_store.stage_events([("t", "[3]", NOW), ("u", "[4]", NOW)])
    assert (first.count, second.count) == (3, 2)
    assert table_rows(any_store, "SELECT event_id FROM pending") == [(meanwhile,)]
    any_store.queue_staged([first, second])
    assert table_rows(any_store, "SELECT count(*) FROM pending WHERE endpoint_id = ?", hook) == [(5,)]


def test_dropping_staged_events_removes_only_that_import_s(any_store: Store) -> None:
    add(any_store, "*")
    kept = any_store.stage_events([("kept", "[]", NOW)])
    dropped = any_store.stage_events([("dropped", "[]", NOW)] * 2)
    producer = any_store.insert_event("producer", "[]")
    any_store.drop_staged([dropped])
    assert stored(any_store) == [("kept", "[]"), ("producer", "[]")]
    any_store.queue_staged([kept])
    assert table_rows(any_store, "SELECT count(*) FROM pending") == [(2,)]
    assert queued_for(any_store, producer) != []


def test_a_producer_inserting_while_an_import_is_dropped_keeps_its_events(location: Location) -> None:
    """Another connection inserts without pause while chunks are staged and dropped: none of
    its events goes with the import's, and each is queued."""
    with closing(open_store(location)) as store:
        add(store, "*")
        stop = threading.Event()
        inserted: list[int] = []

        def produce() -> None:
            with closing(open_store(location)) as producer:
                while not stop.is_set():
                    inserted.append(producer.insert_event("producer", "{}"))

        thread = threading.Thread(target=produce)
        thread.start()
        try:
            for _ in range(5):
                store.drop_staged([store.stage_events([("import", "{}", NOW)] * 200) for _ in range(3)])
        finally:
            stop.set()
            thread.join()
        assert table_rows(store, "SELECT type, count(*) FROM events GROUP BY type") == [("producer", len(inserted))]
        assert table_rows(store, "SELECT count(*) FROM pending") == [(len(inserted),)]


# --- endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize("allow_private", [True, False, None])
def test_an_endpoint_reads_back_as_written(any_store: Store, allow_private: bool | None) -> None:
    endpoint_id = add(any_store, "a.*", "b", name="n", batch_size=7, timeout=2.5, allow_private=allow_private)
    endpoint = any_store.endpoint(endpoint_id)
    assert (endpoint.id, endpoint.name, endpoint.events, endpoint.batch_size, endpoint.timeout) == (
        endpoint_id,
        "n",
        ("a.*", "b"),
        7,
        2.5,
    )
    assert endpoint.allow_private is allow_private and endpoint.enabled is True
    assert endpoint.created_at.tzinfo is not None
    assert [item.id for item in any_store.endpoints()] == [endpoint_id]


def test_change_writes_what_change_makes_of_the_endpoint(any_store: Store) -> None:
    endpoint_id = add(any_store, "*", name="old")
    seen: list[Endpoint] = []

    def rename(endpoint: Endpoint) -> EndpointChange:
        seen.append(endpoint)
        return EndpointChange({"name": endpoint.name + "+new", "allow_private": True})

    changed, due = any_store.change_endpoint(endpoint_id, rename)
    assert (seen[0].name, changed.name, changed.allow_private, due) == ("old", "old+new", True, 0)
    assert any_store.endpoint(endpoint_id) == changed
    with pytest.raises(NotFound, match="no endpoint 99"):
        any_store.change_endpoint(99, rename)


def test_changes_at_once_each_read_the_other_s(location: Location) -> None:
    """Read and write in one transaction: eight admins appending at once lose no one's append."""
    with closing(open_store(location)) as store:
        endpoint_id = add(store, "*", name="")

    def append(mark: str) -> None:
        with closing(open_store(location)) as admin:
            admin.change_endpoint(endpoint_id, lambda endpoint: EndpointChange({"name": endpoint.name + mark}))

    threads = [threading.Thread(target=append, args=(str(n),)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with closing(open_store(location)) as store:
        assert sorted(store.endpoint(endpoint_id).name or "") == [str(n) for n in range(8)]


def test_a_change_that_raises_writes_nothing(any_store: Store) -> None:
    endpoint_id = add(any_store, "*", name="kept")

    def refuse(endpoint: Endpoint) -> EndpointChange:
        raise ValueError("no")

    with pytest.raises(ValueError):
        any_store.change_endpoint(endpoint_id, refuse)
    assert any_store.endpoint(endpoint_id).name == "kept"
    assert any_store.insert_event("a", "{}") > 0  # nothing left open


def test_disable_and_enable(any_store: Store) -> None:
    endpoint_id = add(any_store, "*")
    any_store.disable_endpoint(endpoint_id, "too many failures", NOW)
    disabled = any_store.endpoint(endpoint_id)
    assert (disabled.enabled, disabled.disabled_reason, disabled.disabled_at) == (False, "too many failures", NOW)
    any_store.enable_endpoint(endpoint_id, NOW)
    enabled = any_store.endpoint(endpoint_id)
    assert (enabled.enabled, enabled.disabled_reason, enabled.disabled_at) == (True, None, None)
    for action in (lambda: any_store.enable_endpoint(99, NOW), lambda: any_store.disable_endpoint(99, "x", NOW)):
        with pytest.raises(NotFound, match="no endpoint 99"):
            action()


def test_delete_takes_the_endpoint_s_queue_with_it(any_store: Store) -> None:
    gone = add(any_store, "*")
    kept = add(any_store, "*")
    event_id = any_store.insert_event("a", "{}")
    any_store.delete_endpoint(gone)
    assert [endpoint.id for endpoint in any_store.endpoints()] == [kept]
    assert queued_for(any_store, event_id) == [kept]
    assert table_rows(any_store, "SELECT events_checked_through FROM dispatcher_prune") == [(0,)]
    with pytest.raises(NotFound, match=f"no endpoint {gone}"):
        any_store.delete_endpoint(gone)


def test_pages_of_endpoints_follow_ids(any_store: Store) -> None:
    ids = [add(any_store, "*") for _ in range(5)]
    assert [endpoint.id for endpoint in any_store.endpoints_after(None, 2)] == ids[:2]
    assert [endpoint.id for endpoint in any_store.endpoints_after(ids[1], 10)] == ids[2:]


# --- config ---------------------------------------------------------------------------


def test_config_is_set_and_replaced(any_store: Store) -> None:
    assert any_store.config() == {}
    assert any_store.set_config("batch_size", "50") == 0
    any_store.set_config("batch_size", "10")
    any_store.set_config("retry", "5s,1m", due_at=NOW)
    assert any_store.config() == {"batch_size": "10", "retry": "5s,1m"}


def test_a_refusal_says_why_in_a_line_without_the_payload(any_store: Store) -> None:
    with pytest.raises(PayloadRefused) as refused:
        any_store.insert_event("lead.created", '{"pad": "' + "x" * (1024 * 1024) + '"}')
    assert len(str(refused.value)) < 300 and "\n" not in str(refused.value)
