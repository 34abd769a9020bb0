"""The payload rule, applied before anything reaches the database.

A payload is RFC 8259 JSON (no NaN or Infinity) whose top level is an object
or an array. JSON text is checked and then stored exactly as given, never
re-serialized, so a producer's bytes are the bytes a receiver gets.
The schema's CHECK constraint enforces the same rule for rows inserted
around this module.
"""

from __future__ import annotations

import json

from .errors import DispatcherError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING; typing is not imported on `dispatcher enqueue`'s short way
if TYPE_CHECKING:
    from typing import Any, NoReturn, TypeAlias

    Payload: TypeAlias = dict[str, Any] | list[Any] | str | bytes

# The schema's limit too (trigger events_fan_out): ten of them make a 10 MiB request already.
MAX_PAYLOAD_BYTES = 1024 * 1024


# SQLite's JSON functions stop at a depth of 1,000 as well, and Python's recursion near there.
_TOO_DEEP = "invalid payload: nested too deeply"


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def payload_text(payload: Any) -> str:
    """The text to store for ``payload``; raises DispatcherError if it breaks the rule."""
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise DispatcherError("invalid payload: not UTF-8") from None
    if isinstance(payload, str):
        try:
            value = json.loads(payload, parse_constant=_refuse_constant)
        except ValueError as error:
            raise DispatcherError(f"invalid payload: {error}") from None
        except RecursionError:
            raise DispatcherError(_TOO_DEEP) from None
        return parsed_payload_text(value, payload)
    if isinstance(payload, (dict, list)):
        try:
            text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise DispatcherError(f"invalid payload: {error}") from None
        except RecursionError:
            raise DispatcherError(_TOO_DEEP) from None
        return _encodable(text)
    raise DispatcherError(f"invalid payload: expected a dict, a list or JSON text, not {type(payload).__name__}")


def parsed_payload_text(value: Any, text: str) -> str:
    """The text to store for JSON ``text`` already parsed (by the same rule) into ``value``: what
    is left to check without parsing it again."""
    _check_top_level(value)
    return _encodable(text)


def stored_text(payload: Any) -> str:
    """The text to store for ``payload``, leaving JSON text to the schema's CHECK to judge.

    The hot path of queueing: parsing the text again in Python would double
    its cost. When the database refuses a row, :func:`payload_text` says why.
    """
    if isinstance(payload, str):
        return within_limit(payload)
    if isinstance(payload, bytes):
        try:
            return within_limit(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise DispatcherError("invalid payload: not UTF-8") from None
    return payload_text(payload)


def within_limit(text: str) -> str:
    """``text``, if it is no more than MAX_PAYLOAD_BYTES in UTF-8. Measured only when it may be over:
    a bulk insert leaves the schema's check out (see store.producing), so this one is on its hot path."""
    if len(text) > MAX_PAYLOAD_BYTES // 4:
        _check_size(len(text.encode("utf-8", "surrogatepass")))
    return text


def _encodable(text: str) -> str:
    """Lone surrogates survive json but not the trip to SQLite and the wire; nor does a payload
    over the size limit get through the schema."""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise DispatcherError("invalid payload: not encodable as UTF-8 (lone surrogate)") from None
    _check_size(len(encoded))
    return text


def _check_size(size: int) -> None:
    if size > MAX_PAYLOAD_BYTES:
        raise DispatcherError(f"invalid payload: {size:,} bytes, over the limit of {MAX_PAYLOAD_BYTES:,} (1 MiB)")


def _check_top_level(value: object) -> None:
    if not isinstance(value, (dict, list)):
        raise DispatcherError(f"invalid payload: must be a JSON object or array, not {type(value).__name__}")


def check_type(event_type: Any) -> str:
    if not isinstance(event_type, str) or not event_type.strip():
        raise DispatcherError("invalid event type: must be non-empty text")
    return event_type
