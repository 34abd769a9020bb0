"""JSON read with the text of each value kept: a payload inside a request body is stored as the
client wrote it (payloads.py), so it is cut out of the body, not parsed and written again."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import DispatcherError


@dataclass(frozen=True)
class Member:
    value: Any  # parsed
    text: str  # the value's JSON text exactly as written


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _refuse(what: str, text: str, at: int) -> NoReturn:
    raise DispatcherError(f"invalid JSON: {what} at character {at}")


def _value(text: str, at: int) -> tuple[Member, int]:
    try:
        value, end = _DECODER.raw_decode(text, at)
    except ValueError as error:
        raise DispatcherError(f"invalid JSON: {error}") from None
    except RecursionError:
        raise DispatcherError("invalid JSON: nested too deeply") from None
    return Member(value, text[at:end]), end


def _whole(text: str, end: int) -> None:
    end = _skip(text, end)
    if end != len(text):
        _refuse("extra data", text, end)


def members(text: str) -> dict[str, Member]:
    """The members of the JSON object that ``text`` is, by name. A name given twice is refused:
    which of its values counts is anyone's guess (RFC 8259 leaves it open)."""
    at = _skip(text, 0)
    if not text.startswith("{", at):
        _refuse("expected an object", text, at)
    at = _skip(text, at + 1)
    found: dict[str, Member] = {}
    if text.startswith("}", at):
        _whole(text, at + 1)
        return found
    while True:
        if not text.startswith('"', at):
            _refuse("expected a member name", text, at)
        key, at = _value(text, at)
        name = str(key.value)  # a string: it began with a quote
        at = _skip(text, at)
        if not text.startswith(":", at):
            _refuse("expected ':'", text, at)
        member, at = _value(text, _skip(text, at + 1))
        if name in found:
            raise DispatcherError(f"invalid JSON: {name!r} is given twice")
        found[name] = member
        at = _skip(text, at)
        if text.startswith(",", at):
            at = _skip(text, at + 1)
        elif text.startswith("}", at):
            _whole(text, at + 1)
            return found
        else:
            _refuse("expected ',' or '}'", text, at)


def items(text: str) -> list[Member]:
    """The items of the JSON array that ``text`` is."""
    at = _skip(text, 0)
    if not text.startswith("[", at):
        _refuse("expected an array", text, at)
    at = _skip(text, at + 1)
    found: list[Member] = []
    if text.startswith("]", at):
        _whole(text, at + 1)
        return found
    while True:
        member, at = _value(text, at)
        found.append(member)
        at = _skip(text, at)
        if text.startswith(",", at):
            at = _skip(text, at + 1)
        elif text.startswith("]", at):
            _whole(text, at + 1)
            return found
        else:
            _refuse("expected ',' or ']'", text, at)
