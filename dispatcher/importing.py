"""Queueing the events of a file: JSON Lines or CSV, all of it or none of it.

The file is read once (it may be a pipe) and written in transactions of
``CHUNK_EVENTS`` events, so producers wait for the write lock one chunk at
most, never for the whole file. The chunks are staged: no endpoint gets their
events until the last chunk is in, when one short transaction queues them
all. A bad line drops what was staged, so the queue is as it was. The schema's
CHECK judges the JSON at C speed; Python parses a line only to explain a
refusal (or to read a {"type", "payload"} line). With ``skip_bad`` the bad
lines are skipped and reported.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .clock import SystemClock, to_text
from .errors import DispatcherError
from .models import counted
from .payloads import check_type, payload_text, within_limit
from .store import Store

FORMATS = ("jsonl", "csv")
CHUNK_EVENTS = 10_000
# With skip_bad, the reasons kept for this many bad lines (all are counted): a
# file in the wrong format must not fill the memory with one reason per line.
KEPT_SKIPPED = 1_000

_FORMAT_OF_EXTENSION = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# Only these surround JSON text (RFC 8259); str.strip() would also take
# characters that belong to it.
_JSON_WHITESPACE = b" \t\r\n"
_NO_TYPE = 'no event type: give --type or a {"type", "payload"} line'

Row = tuple[str, str]  # (type, payload), as Store.insert_events takes it
Progress = Callable[[int], None]  # told how many more bytes of the file have been dealt with


@dataclass(frozen=True)
class Source:
    """An open file to import, and its format."""

    stream: BinaryIO
    format: str
    size: int | None  # the bytes left to read; None for a pipe


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: list[tuple[int, str]]  # (line number, reason) of the first KEPT_SKIPPED bad lines
    skipped_count: int


@contextmanager
def open_source(file: str | Path | BinaryIO, format: str | None = None) -> Iterator[Source]:
    """Open a path, or take a binary stream, to import; ``format`` defaults from the file's extension."""
    chosen = _format(file, format)
    with ExitStack() as stack:
        stream = stack.enter_context(_open(file)) if isinstance(file, (str, Path)) else file
        yield Source(stream, chosen, _size_left(stream))


def import_events(
    store: Store,
    source: Source,
    *,
    event_type: str | None = None,
    skip_bad: bool = False,
    progress: Progress = lambda done: None,
) -> ImportResult:
    """Queue every event in ``source``, in the file's order.

    ``event_type`` is the type of every line without one of its own (every
    CSV row). Without ``skip_bad`` a bad line raises DispatcherError naming
    its line number, and nothing is queued.
    """
    if event_type is not None:
        check_type(event_type)
    elif source.format == "csv":
        raise DispatcherError("a CSV file needs --type: its rows have no event type of their own")
    skipped = _Skipped() if skip_bad else None
    staged: list[tuple[int, int]] = []
    imported = 0
    try:
        for chunk in _chunks(source, event_type, skipped):
            if chunk.rows:
                staged.append(_stage(store, chunk, skipped))
                imported += staged[-1][1] - staged[-1][0]
            progress(chunk.read)
    except BaseException:
        store.drop_staged(staged)
        raise
    store.queue_staged(staged)  # outside the try: once queued, the events are the endpoints', never dropped
    return ImportResult(imported, sorted(skipped.lines) if skipped else [], skipped.count if skipped else 0)


@dataclass(frozen=True)
class _Chunk:
    """The events of one transaction, the file line of each, and the bytes read for them."""

    rows: list[Row]
    lines: list[int]
    read: int


@dataclass
class _Skipped:
    lines: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0

    def add(self, number: int, reason: str) -> None:
        self.count += 1
        if len(self.lines) < KEPT_SKIPPED:
            self.lines.append((number, reason))


def _chunks(source: Source, event_type: str | None, skipped: _Skipped | None) -> Iterator[_Chunk]:
    """The file's events a chunk at a time; a bad line goes to ``skipped``, or without it raises."""
    lines = _Lines(source.stream)
    if source.format == "csv":
        assert event_type is not None  # import_events refuses CSV without a type
        events = _csv_events(lines, event_type)
    else:
        events = _jsonl_events(lines, event_type)
    rows: list[Row] = []
    numbers: list[int] = []
    reported = 0
    for number, event in events:
        if isinstance(event, str):
            _bad(number, event, skipped)
            continue
        rows.append(event)
        numbers.append(number)
        if len(rows) == CHUNK_EVENTS:
            yield _Chunk(rows, numbers, lines.read - reported)
            reported = lines.read
            rows, numbers = [], []
    yield _Chunk(rows, numbers, lines.read - reported)


def _bad(number: int, reason: str, skipped: _Skipped | None) -> None:
    if skipped is None:
        raise DispatcherError(f"line {number}: {reason}")
    skipped.add(number, reason)


def _stage(store: Store, chunk: _Chunk, skipped: _Skipped | None) -> tuple[int, int]:
    """Write one chunk, its payloads judged by the schema. A refusal is explained with its line number
    and raised; with ``skip_bad`` the chunk's bad lines are then found the slow way and left out."""
    queued_at = to_text(SystemClock().now())  # one queue time per transaction, as enqueue_many gives
    rows, numbers = chunk.rows, chunk.lines
    while rows:
        tracked = _Tracked(rows, queued_at)
        try:
            return store.stage_events(tracked)
        except (sqlite3.IntegrityError, UnicodeEncodeError) as error:
            last = tracked.last
            _bad(numbers[last], _why_refused(rows[last][1]) or f"refused by the database: {error}", skipped)
            assert skipped is not None  # _bad raised otherwise
            kept = [
                (row, number)
                for index, (row, number) in enumerate(zip(rows, numbers))
                if index != last and not _skipped_if_bad(row[1], number, skipped)
            ]
            rows, numbers = [row for row, _ in kept], [number for _, number in kept]
    return 0, 0


class _Tracked:
    """Rows as stage_events takes them, remembering which one it took last: the one refused."""

    def __init__(self, rows: list[Row], queued_at: str) -> None:
        self.rows = rows
        self.queued_at = queued_at
        self.last = -1

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        for index, (event_type, payload) in enumerate(self.rows):
            self.last = index
            yield event_type, payload, self.queued_at


def _skipped_if_bad(payload: str, number: int, skipped: _Skipped) -> bool:
    reason = _why_refused(payload)
    if reason is not None:
        skipped.add(number, reason)
    return reason is not None


def _why_refused(payload: str) -> str | None:
    """What the payload rule says against ``payload``; None if nothing."""
    try:
        payload_text(payload)
    except DispatcherError as reason:
        return str(reason)
    except RecursionError:
        return "invalid payload: nested too deeply"
    return None


class _Lines:
    """The lines of a binary stream, with a count of the bytes read: a pipe cannot tell."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.read += len(line)
            yield line


# --- JSON Lines -------------------------------------------------------------------


def _jsonl_events(lines: Iterable[bytes], event_type: str | None) -> Iterator[tuple[int, Row | str]]:
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


def _csv_events(lines: Iterable[bytes], event_type: str) -> Iterator[tuple[int, Row | str]]:
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


# --- opening ----------------------------------------------------------------------


def _format(file: str | Path | BinaryIO, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise DispatcherError(f"unknown format {given!r}: use jsonl or csv")
        return given
    if not isinstance(file, (str, Path)):
        raise DispatcherError("cannot tell the format without a file name: give --format jsonl or csv")
    found = _FORMAT_OF_EXTENSION.get(Path(file).suffix.lower())
    if found is None:
        raise DispatcherError(f"cannot tell the format of {str(file)!r} from its extension: give --format jsonl or csv")
    return found


@contextmanager
def _open(path: str | Path) -> Iterator[BinaryIO]:
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise DispatcherError(f"cannot read {str(path)!r}: {error.strerror}") from None
    with stream:
        yield stream


def _size_left(stream: BinaryIO) -> int | None:
    if not stream.seekable():
        return None
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end - here
