"""dispatcher.sending.formats: the request body receivers parse."""

from __future__ import annotations

import json

import pytest

from dispatcher.clock import from_text
from dispatcher.errors import DispatcherError
from dispatcher.models import Batch, Event
from dispatcher.sending.formats import FORMATS, _quoted, check_format, mautic_timestamp, render, render_batch


def make_batch(*events: Event, batch_id: str = "6f1c2b7e-0000-4000-8000-000000000001") -> Batch:
    return Batch(id=batch_id, endpoint_id=1, events=events, attempts=0)


def test_body_is_json_with_batch_id_and_events() -> None:
    batch = make_batch(
        Event(1, "lead.created", '{"id":10}', from_text("2026-11-22T10:00:00.000Z")),
        Event(2, "lead.updated", "[1,2]", from_text("2026-11-22T10:00:01.500Z")),
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
    batch = make_batch(*(Event(i, "t", "{}", from_text("2026-11-22T10:00:00.000Z")) for i in ids))
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
        Event(1, "x", odd, from_text("2026-11-22T10:00:00.000Z")),
        Event(2, "x", unicode, from_text("2026-11-22T10:00:00.000Z")),
    )
    body = render_batch(batch)
    assert b'"data":' + odd.encode() + b"}" in body
    assert b'"data":' + unicode.encode("utf-8") + b"}" in body
    # Re-serializing would have turned 1.50 into 1.5 and \u00e9 into é.
    assert json.loads(body)["events"][1]["data"] == {"name": "Zoë", "esc": "é", "big": 1.5}


def test_body_is_utf8() -> None:
    batch = make_batch(Event(1, "x", '{"name":"東京"}', from_text("2026-11-22T10:00:00.000Z")))
    body = render_batch(batch)
    assert isinstance(body, bytes)
    assert "東京".encode() in body


def test_event_types_with_quotes_and_unicode_are_escaped() -> None:
    types = ['say "hi"', "back\\slash", "Zoë.créé", "tab\there", "line\nbreak", "</script>"]
    batch = make_batch(*(Event(i, t, "{}", from_text("2026-11-22T10:00:00.000Z")) for i, t in enumerate(types, 1)))
    body = json.loads(render_batch(batch))
    assert [event["type"] for event in body["events"]] == types


def test_batch_id_is_escaped_and_the_timestamp_is_the_stored_text() -> None:
    batch = make_batch(Event(1, "t", "{}", from_text("2026-11-22T10:00:00.5+00:00")), batch_id='id with "quotes"')
    body = json.loads(render_batch(batch))
    assert body["batch_id"] == 'id with "quotes"'
    assert body["events"][0]["timestamp"] == "2026-11-22T10:00:00.500Z"


# --- mautic ---------------------------------------------------------------------


def test_mautic_groups_payloads_by_type_with_mautic_timestamps() -> None:
    batch = make_batch(
        Event(1, "mautic.lead_post_save_new", '{"contact":{"id":1}}', from_text("2024-10-24T15:54:35.120Z")),
        Event(2, "mautic.lead_points_change", '{"points":5}', from_text("2024-10-24T15:54:36.000Z")),
        Event(3, "mautic.lead_post_save_new", '{"contact":{"id":2}}', from_text("2024-10-24T15:54:37.999Z")),
    )
    assert json.loads(render(batch, "mautic")) == {
        "mautic.lead_post_save_new": [
            {"contact": {"id": 1}, "timestamp": "2024-10-24T15:54:35+00:00"},
            {"contact": {"id": 2}, "timestamp": "2024-10-24T15:54:37+00:00"},
        ],
        "mautic.lead_points_change": [{"points": 5, "timestamp": "2024-10-24T15:54:36+00:00"}],
    }


def test_mautic_keys_are_the_event_types_only_in_order_of_first_appearance() -> None:
    # A "desc" batch: newest first, and the groups keep that order too.
    batch = make_batch(
        *(Event(i, t, "{}", from_text("2026-11-22T10:00:00.000Z")) for i, t in [(9, "b"), (8, "a"), (7, "b")])
    )
    body = json.loads(render(batch, "mautic"))
    assert list(body) == ["b", "a"]
    assert len(body["b"]) == 2


def test_mautic_splices_the_timestamp_into_the_stored_text() -> None:
    batch = make_batch(
        Event(1, "t", ' { "big" : 1.50 } ', from_text("2026-11-22T10:00:00.000Z")),
        Event(2, "t", "{}", from_text("2026-11-22T10:00:00.000Z")),
    )
    body = render(batch, "mautic")
    assert body == (
        b'{"t":[{ "big" : 1.50 ,"timestamp":"2026-11-22T10:00:00+00:00"},{"timestamp":"2026-11-22T10:00:00+00:00"}]}'
    )


def test_mautic_leaves_array_payloads_unchanged() -> None:
    batch = make_batch(Event(1, "t", "[1, 2]", from_text("2026-11-22T10:00:00.000Z")))
    assert json.loads(render(batch, "mautic")) == {"t": [[1, 2]]}


def test_mautic_timestamp_overrides_a_payload_timestamp_as_mautic_does() -> None:
    batch = make_batch(Event(1, "t", '{"timestamp":"mine"}', from_text("2026-11-22T10:00:00.000Z")))
    assert json.loads(render(batch, "mautic"))["t"][0]["timestamp"] == "2026-11-22T10:00:00+00:00"


def test_mautic_timestamp_is_php_iso_8601() -> None:
    assert mautic_timestamp(from_text("2026-01-02T03:04:05.678Z")) == "2026-01-02T03:04:05+00:00"


# --- raw ------------------------------------------------------------------------


def test_raw_body_is_the_payload_byte_for_byte() -> None:
    payload = '{ "id": "evt:1", "action": "order.accepted", "data": {"orderId": 42, "n": 1.50, "s": "Zoë"} }\n'
    assert render(make_batch(Event(1, "order.accepted", payload, from_text("2026-11-22T10:00:00.000Z"))), "raw") == (
        payload.encode()
    )


def test_raw_refuses_more_than_one_event() -> None:
    batch = make_batch(*(Event(i, "t", "{}", from_text("2026-11-22T10:00:00.000Z")) for i in (1, 2)))
    with pytest.raises(DispatcherError, match="one event per request"):
        render(batch, "raw")


def test_every_format_is_known_and_others_are_refused() -> None:
    assert FORMATS == ("batch", "mautic", "raw")
    with pytest.raises(DispatcherError, match="unknown format 'xml': use batch, mautic or raw"):
        check_format("xml")


def test_quoting_is_json_dumps_for_every_character() -> None:
    # The fast path must never emit what json.dumps would have escaped.
    texts = [chr(code) for code in range(0x300)] + ["lead.created", "2026-11-22T10:00:00.000Z", "\ud800", "🙂", ""]
    for text in texts:
        assert _quoted(text) == json.dumps(text), repr(text)
