"""dispatcher.payloads: what may be queued, and the exact text that is stored."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any

import pytest

from dispatcher.errors import DispatcherError
from dispatcher.payloads import check_type, payload_text


def test_dict_is_serialized_compactly() -> None:
    assert payload_text({"id": 1, "tags": ["a", "b"], "nested": {"x": None}}) == (
        '{"id":1,"tags":["a","b"],"nested":{"x":null}}'
    )


def test_list_is_serialized_compactly() -> None:
    assert payload_text([1, {"a": True}, "x"]) == '[1,{"a":true},"x"]'


def test_empty_containers_are_allowed() -> None:
    assert payload_text({}) == "{}"
    assert payload_text([]) == "[]"


def test_dict_keeps_non_ascii_as_characters() -> None:
    # Receivers get readable UTF-8, and the text decodes back to the same value.
    text = payload_text({"name": "Zoë 東京"})
    assert text == '{"name":"Zoë 東京"}'
    assert json.loads(text) == {"name": "Zoë 東京"}


@pytest.mark.parametrize(
    "text",
    [
        '{ "b" : 2,   "a":1 }',
        '{"z":1,"a":2,"m":3}',
        '{"name":"Zo\\u00eb","emoji":"\\ud83d\\ude00"}',
        "\n  [1, 2.50, 1e3]\n",
        '{"a":{"b":[ ]}}',
    ],
)
def test_json_text_is_stored_exactly_as_given(text: str) -> None:
    assert payload_text(text) == text


def test_json_bytes_are_decoded_and_stored_exactly() -> None:
    raw = '{ "name" : "Zoë" }'.encode()
    assert payload_text(raw) == '{ "name" : "Zoë" }'


@pytest.mark.parametrize(
    "text",
    ['{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', "[NaN]", "NaN", "Infinity", "-Infinity"],
)
def test_non_finite_numbers_as_text_are_refused(text: str) -> None:
    with pytest.raises(DispatcherError):
        payload_text(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_in_python_values_are_refused(value: float) -> None:
    with pytest.raises(DispatcherError):
        payload_text({"a": value})
    with pytest.raises(DispatcherError):
        payload_text([1, {"deep": [value]}])


@pytest.mark.parametrize("text", ["1", '"x"', "null", "true", "false", "1.5"])
def test_scalar_json_text_is_refused(text: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        payload_text(text)
    assert "object or array" in str(caught.value)


@pytest.mark.parametrize("value", [1, 1.5, "plain", None, True])
def test_python_scalars_are_refused(value: Any) -> None:
    # A bare str is read as JSON text, so "plain" fails as invalid JSON.
    with pytest.raises(DispatcherError):
        payload_text(value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{", '{"a":1', "{'a': 1}", '{"a":1} {"b":2}', "[1,]", '{"a":undefined}', "\ufeff{}"],
)
def test_invalid_json_text_is_refused(text: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        payload_text(text)
    assert "invalid payload" in str(caught.value)


@pytest.mark.parametrize("raw", [b'{"a":"\xff"}', b"\xc3\x28", b'{"a":"\xe9"}'])
def test_bytes_that_are_not_utf8_are_refused(raw: bytes) -> None:
    with pytest.raises(DispatcherError) as caught:
        payload_text(raw)
    assert "UTF-8" in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [
        '{"a":"\ud800"}',  # a lone surrogate: a Python str, but no UTF-8 spelling
        {"a": "\udfff"},
    ],
)
def test_text_that_cannot_be_utf8_is_refused(payload: Any) -> None:
    # RFC 8259 JSON exchanged between systems is UTF-8; such text would
    # otherwise fail later, inside sqlite3, with a UnicodeEncodeError.
    with pytest.raises(DispatcherError):
        payload_text(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"when": datetime.datetime(2026, 1, 1)},
        {"amount": Decimal("1.10")},
        {"tags": {"a", "b"}},
        {"obj": object()},
        {(1, 2): "tuple key"},
        [b"bytes inside"],
    ],
)
def test_python_values_json_cannot_represent_are_refused(payload: Any) -> None:
    with pytest.raises(DispatcherError) as caught:
        payload_text(payload)
    assert "invalid payload" in str(caught.value)


@pytest.mark.parametrize("payload", [(1, 2), {1, 2}, object()])
def test_other_top_level_types_are_refused(payload: Any) -> None:
    with pytest.raises(DispatcherError) as caught:
        payload_text(payload)
    assert type(payload).__name__ in str(caught.value)


@pytest.mark.parametrize("event_type", ["", "   ", "\n", None, 5])
def test_empty_or_non_text_event_type_is_refused(event_type: Any) -> None:
    with pytest.raises(DispatcherError):
        check_type(event_type)


def test_event_type_is_returned_unchanged() -> None:
    assert check_type("lead.created") == "lead.created"


def test_a_payload_nested_deeper_than_json_goes_is_refused_in_a_line() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    for payload in ("[" * 100_000 + "]" * 100_000, deep):
        with pytest.raises(DispatcherError, match="invalid payload: nested too deeply"):
            payload_text(payload)
