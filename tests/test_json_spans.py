"""json_spans: members and items with each value's text exactly as written."""

from __future__ import annotations

import pytest

from dispatcher.errors import DispatcherError
from dispatcher.json_spans import items, members


def test_a_members_text_is_kept_byte_for_byte() -> None:
    found = members(' {"type" : "a",\n "payload":{"b": 1.50,  "c":[1e3, "\\u00e9"]} } ')
    assert found["type"].value == "a"
    assert found["payload"].text == '{"b": 1.50,  "c":[1e3, "\\u00e9"]}'
    assert found["payload"].value == {"b": 1.5, "c": [1000.0, "é"]}


def test_escaped_names_are_read_as_json_reads_them() -> None:
    assert set(members('{"ty\\u0070e": 1}')) == {"type"}


def test_items_of_an_array() -> None:
    assert [item.text for item in items(' [ {"a" : 1} ,[ ], "x"] ')] == ['{"a" : 1}', "[ ]", '"x"']
    assert items("[]") == [] and members("{}") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": 1, "a": 2}', "'a' is given twice"),
        ('{"a": 1} {}', "extra data"),
        ("[1, 2]", "expected an object"),
        ('{"a" 1}', "expected ':'"),
        ('{"a": 1 "b": 2}', "expected ',' or '}'"),
        ("{a: 1}", "expected a member name"),
        ('{"a": [1,]}', "invalid JSON"),
        ("", "expected an object"),
    ],
)
def test_bad_json_is_refused_with_where(text: str, says: str) -> None:
    with pytest.raises(DispatcherError, match=says):
        members(text)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(DispatcherError, match="expected an array"):
        items("{}")
    with pytest.raises(DispatcherError, match="expected ',' or ']'"):
        items("[1 2]")
