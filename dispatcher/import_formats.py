"""The formats `import` reads, JSON Lines and CSV: each line (or row) of a file as an event, or why it is refused."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator

from .errors import DispatcherError
from .models import counted
from .payloads import check_type, payload_text, within_limit

# Only these surround JSON text (RFC 8259); str.strip() would also take
# characters that belong to it.
_JSON_WHITESPACE = b" \t\r\n"
_NO_TYPE = 'no event type: give --type or a {"type", "payload"} line'

Row = tuple[str, str]  # (type, payload), as Store.insert_events takes it


# --- JSON Lines -------------------------------------------------------------------


def jsonl_events(lines: Iterable[bytes], event_type: str | None) -> Iterator[tuple[int, Row | str]]:
    # Lines end at b"\n" only, as JSON Lines says: a lone CR is JSON whitespace.
    for number, raw in enumerate(lines, start=1):
        line = (raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw).strip(_JSON_WHITESPACE)
        if not line:
            continue
        if event_type is not None and not _may_be_wrapped(line):
            # The common line, a payload: only decoded here, the schema judges it.
            try:
                yield number, (event_type, within_limit(line.decode("utf-8")))
            except UnicodeDecodeError:
                yield number, "invalid payload: not UTF-8"
            except DispatcherError as refusal:
                yield number, str(refusal)
            continue
        try:
            event: Row | str = _jsonl_event(line, event_type)
        except DispatcherError as error:
            event = str(error)
        except RecursionError:
            event = "invalid payload: nested too deeply"
        yield number, event


def _jsonl_event(line: bytes, event_type: str | None) -> Row:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise DispatcherError("invalid payload: not UTF-8") from None
    wrapped = _wrapped_event(text) if _may_be_wrapped(line) else None
    if wrapped is not None:
        return wrapped
    if event_type is None:
        raise DispatcherError(_NO_TYPE)
    return event_type, text  # stored as the line has it, byte for byte; the schema judges it


def _may_be_wrapped(line: bytes) -> bool:
    """False when the line cannot have a "payload" key, which spares parsing it twice.

    The key is either spelled out or written with \\u escapes (no other escape
    makes a letter).
    """
    return b'"payload"' in line or b"\\u" in line


def _wrapped_event(text: str) -> Row | None:
    """The event of a {"type": T, "payload": P} line (P an object or an array); None for any other line."""
    try:
        value = json.loads(text)
    except ValueError:
        return None  # payload_text says what is wrong with it
    if not (isinstance(value, dict) and value.keys() == {"type", "payload"}):
        return None
    if not isinstance(value["payload"], (dict, list)):
        return None
    # The payload is inside the line, so it cannot be stored as written: it is re-serialized, compact.
    return check_type(value["type"]), payload_text(value["payload"])


# --- CSV --------------------------------------------------------------------------


def csv_events(lines: Iterable[bytes], event_type: str) -> Iterator[tuple[int, Row | str]]:
    reader = csv.reader(_decoded_lines(lines), strict=True)
    header: list[str] | None = None
    while True:
        number = reader.line_num + 1  # a quoted field may span lines: a row is named by its first
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if header is None:
                raise DispatcherError(f"line {number}: invalid CSV header: {error}") from None
            yield number, f"invalid CSV: {error}"
            continue
        if not fields:
            continue  # a blank line
        if header is None:
            header = _header(fields, number)
            continue
        try:
            event: Row | str = (event_type, _csv_payload(header, fields))
        except DispatcherError as error:
            event = str(error)
        yield number, event


def _decoded_lines(lines: Iterable[bytes]) -> Iterator[str]:
    """The lines csv wants (newline="" semantics: any line ending, kept), decoded from UTF-8.

    Bytes that are not UTF-8 become lone surrogates instead of stopping the
    reader, so the row holding them is refused with its own line number.
    """
    for number, raw in enumerate(lines, start=1):
        for line in (raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw).splitlines(keepends=True):
            yield line.decode("utf-8", "surrogateescape")


def _header(fields: list[str], number: int) -> list[str]:
    if not _is_utf8(fields):
        raise DispatcherError(f"line {number}: invalid CSV header: not UTF-8")
    seen: set[str] = set()
    for name in fields:
        if name in seen:
            raise DispatcherError(f"line {number}: invalid CSV header: column {name!r} appears twice")
        seen.add(name)
    return fields


def _csv_payload(header: list[str], fields: list[str]) -> str:
    """A JSON object of the row, every value a string: no type is guessed."""
    if len(fields) != len(header):
        raise DispatcherError(f"invalid CSV: {counted(len(fields), 'field')}, where the header has {len(header)}")
    if not _is_utf8(fields):
        raise DispatcherError("invalid payload: not UTF-8")
    return payload_text(dict(zip(header, fields)))


def _is_utf8(fields: list[str]) -> bool:
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return False  # a surrogate that _decoded_lines put for bytes that were not UTF-8
    return True
