"""intake: events read from an API request body, queued all or none, once per idempotency key."""

from __future__ import annotations

import json
import threading
from contextlib import closing

import pytest

from dispatcher import intake
from dispatcher.access_models import StoredAnswer
from dispatcher.clock import ManualClock, from_text
from dispatcher.errors import Conflict, DispatcherError
from dispatcher.store import Location, Store, open_store

from .helpers import table_rows


def answer(ids: list[int]) -> StoredAnswer:
    return StoredAnswer(201, json.dumps({"ids": ids}))


def test_the_payload_is_cut_out_of_the_body_as_sent() -> None:
    event = intake.read_event(b'{"payload": {"z": 1, "a": 1.50, "s": "\\u00e9"} , "type": "new_lead"}')
    assert event == intake.NewEvent("new_lead", '{"z": 1, "a": 1.50, "s": "\\u00e9"}')


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"type": "a", "payload": 1}', "payload: invalid payload: must be a JSON object or array"),
        (b'{"type": " ", "payload": {}}', "type: invalid event type"),
        (b'{"type": "a"}', "payload: missing"),
        (b'{"type": "a", "payload": {}, "extra": 1}', "extra: unknown field"),
        (b'{"type": "a", "payload": {"x": Infinity}}', "Infinity is not JSON"),
        (b"\xff", "not UTF-8"),
        (b'{"type": "a", "payload": ["' + b"x" * (1024 * 1024) + b'"]}', "over the limit"),
    ],
)
def test_a_bad_event_is_refused_saying_why(body: bytes, says: str) -> None:
    with pytest.raises(DispatcherError, match=says):
        intake.read_event(body)


def test_a_bad_item_of_a_bulk_is_named_by_its_index() -> None:
    body = b'{"events": [{"type": "a", "payload": []}, {"type": "b", "payload": "text"}]}'
    with pytest.raises(DispatcherError, match=r"^events\.1\.payload: invalid payload"):
        intake.read_bulk(body)
    with pytest.raises(DispatcherError, match=r"^events\.0: must be an object"):
        intake.read_bulk(b'{"events": [1]}')
    with pytest.raises(DispatcherError, match="non-empty array"):
        intake.read_bulk(b'{"events": []}')
    too_many = json.dumps({"events": [{"type": "a", "payload": {}}] * (intake.MAX_BULK + 1)}).encode()
    with pytest.raises(DispatcherError, match="over the limit of 1,000"):
        intake.read_bulk(too_many)


def test_a_bulk_is_queued_all_or_none(any_store: Store, clock: ManualClock) -> None:
    events = [intake.NewEvent("a", "[1]"), intake.NewEvent("b", '{"x":  2}')]
    made, repeated = intake.submit(any_store, events, clock.now(), answer)
    assert (json.loads(made.body), repeated) == ({"ids": [1, 2]}, False)
    assert table_rows(any_store, "SELECT id, type, payload FROM events ORDER BY id") == [
        (1, "a", "[1]"),
        (2, "b", '{"x":  2}'),
    ]
    # A row the schema refuses (only a bug would send one) takes the whole bulk back with it.
    with pytest.raises(DispatcherError, match="refused by the database"):
        intake.submit(any_store, [intake.NewEvent("c", "[3]"), intake.NewEvent("d", "not json")], clock.now(), answer)
    assert table_rows(any_store, "SELECT count(*) FROM events") == [(2,)]


def test_the_ids_answered_are_the_events_in_the_order_sent(any_store: Store, clock: ManualClock) -> None:
    events = [intake.NewEvent(f"t{n % 7}", f"[{n}]") for n in range(300)]
    made, _ = intake.submit(any_store, events, clock.now(), answer)
    ids = json.loads(made.body)["ids"]
    stored = dict(table_rows(any_store, "SELECT id, payload FROM events"))
    assert [stored[event_id] for event_id in ids] == [event.payload for event in events]


def test_a_repeat_gets_the_first_answer_and_queues_nothing(any_store: Store, clock: ManualClock) -> None:
    once = intake.idempotency_key(1, "key-1", intake.request_sha256("POST", "/api/v1/events", b"{}"))
    any_store.insert_api_key("k", "0" * 64, False, from_text("2026-11-22T00:00:00.000Z"))
    event = [intake.NewEvent("a", "{}")]
    first = intake.submit(any_store, event, clock.now(), answer, once)
    clock.advance(23 * 3600)
    again = intake.submit(any_store, event, clock.now(), answer, once)
    assert (first[0], first[1], again[1]) == (again[0], False, True)
    assert table_rows(any_store, "SELECT count(*) FROM events") == [(1,)]
    other = intake.idempotency_key(1, "key-1", intake.request_sha256("POST", "/api/v1/events", b"[]"))
    with pytest.raises(Conflict, match="different request"):
        intake.submit(any_store, event, clock.now(), answer, other)
    # After 24 hours the key is forgotten (and its record deleted): the request queues again.
    clock.advance(2 * 3600)
    later, repeated = intake.submit(any_store, event, clock.now(), answer, other)
    assert (json.loads(later.body), repeated) == ({"ids": [2]}, False)
    assert table_rows(any_store, "SELECT count(*) FROM idempotency_keys") == [(1,)]


def test_two_repeats_at_once_queue_one_event(location: Location, clock: ManualClock) -> None:
    with closing(open_store(location)) as store:
        store.insert_api_key("k", "0" * 64, False, from_text("2026-11-22T00:00:00.000Z"))
    once = intake.idempotency_key(1, "same", "digest")
    answers = []

    def send() -> None:
        with closing(open_store(location)) as store:
            answers.append(intake.submit(store, [intake.NewEvent("a", "{}")], clock.now(), answer, once))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {made.body for made, _ in answers} == {'{"ids": [1]}'}
    assert sorted(repeated for _, repeated in answers) == [False] + [True] * 7
    with closing(open_store(location)) as store:
        assert table_rows(store, "SELECT count(*) FROM events") == [(1,)]


@pytest.mark.parametrize("key", ["", "x" * 256, "a\nb"])
def test_a_bad_idempotency_key_is_refused(key: str) -> None:
    with pytest.raises(DispatcherError, match="Idempotency-Key"):
        intake.idempotency_key(1, key, "digest")
