"""dispatcher.formats: the request body receivers parse."""

from __future__ import annotations

import json

from dispatcher.formats import render_batch
from dispatcher.models import Batch, Event


def make_batch(*events: Event, batch_id: str = "6f1c2b7e-0000-4000-8000-000000000001") -> Batch:
    return Batch(id=batch_id, endpoint_id=1, events=events, attempts=0)


def test_body_is_json_with_batch_id_and_events() -> None:
    batch = make_batch(
        Event(1, "lead.created", '{"id":10}', "2026-11-22T10:00:00.000Z"),
        Event(2, "lead.updated", "[1,2]", "2026-11-22T10:00:01.500Z"),
    )
    body = json.loads(render_batch(batch))
    assert body == {
        "batch_id": batch.id,
        "events": [
            {"id": 1, "type": "lead.created", "timestamp": "2026-11-22T10:00:00.000Z", "data": {"id": 10}},
            {"id": 2, "type": "lead.updated", "timestamp": "2026-11-22T10:00:01.500Z", "data": [1, 2]},
        ],
    }


def test_events_keep_the_batch_order() -> None:
    # A batch for a "desc" endpoint holds newest first; the body must not re-sort.
    ids = [7, 3, 9, 1]
    batch = make_batch(*(Event(i, "t", "{}", "2026-11-22T10:00:00.000Z") for i in ids))
    body = json.loads(render_batch(batch))
    assert [event["id"] for event in body["events"]] == ids


def test_empty_batch_is_still_valid_json() -> None:
    assert json.loads(render_batch(make_batch())) == {
        "batch_id": "6f1c2b7e-0000-4000-8000-000000000001",
        "events": [],
    }


def test_stored_payload_is_embedded_byte_for_byte() -> None:
    odd = '{ "a" :1 }'
    unicode = '{"name":"Zoë","esc":"\\u00e9","big":1.50}'
    batch = make_batch(
        Event(1, "x", odd, "2026-11-22T10:00:00.000Z"),
        Event(2, "x", unicode, "2026-11-22T10:00:00.000Z"),
    )
    body = render_batch(batch)
    assert b'"data":' + odd.encode() + b"}" in body
    assert b'"data":' + unicode.encode("utf-8") + b"}" in body
    # Re-serializing would have turned 1.50 into 1.5 and \u00e9 into é.
    assert json.loads(body)["events"][1]["data"] == {"name": "Zoë", "esc": "é", "big": 1.5}


def test_body_is_utf8() -> None:
    batch = make_batch(Event(1, "x", '{"name":"東京"}', "2026-11-22T10:00:00.000Z"))
    body = render_batch(batch)
    assert isinstance(body, bytes)
    assert "東京".encode() in body


def test_event_types_with_quotes_and_unicode_are_escaped() -> None:
    types = ['say "hi"', "back\\slash", "Zoë.créé", "tab\there", "line\nbreak", "</script>"]
    batch = make_batch(*(Event(i, t, "{}", "2026-11-22T10:00:00.000Z") for i, t in enumerate(types, 1)))
    body = json.loads(render_batch(batch))
    assert [event["type"] for event in body["events"]] == types


def test_batch_id_and_timestamp_are_escaped() -> None:
    batch = make_batch(Event(1, "t", "{}", 'odd "time"'), batch_id='id with "quotes"')
    body = json.loads(render_batch(batch))
    assert body["batch_id"] == 'id with "quotes"'
    assert body["events"][0]["timestamp"] == 'odd "time"'
