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

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .clock import SystemClock
from .errors import DispatcherError
from .import_formats import Row, csv_events, jsonl_events
from .payloads import check_type, payload_text
from .store import Store
from .store.errors import PayloadRefused
from .store.types import Staged

FORMATS = ("jsonl", "csv")
CHUNK_EVENTS = 10_000
# With skip_bad, the reasons kept for this many bad lines (all are counted): a
# file in the wrong format must not fill the memory with one reason per line.
KEPT_SKIPPED = 1_000

_FORMAT_OF_EXTENSION = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
Progress = Callable[[int, int], None]  # told how many more bytes of the file, and events in them, are done


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
    progress: Progress = lambda read, events: None,
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
    staged: list[Staged] = []
    imported = 0
    try:
        for chunk in _chunks(source, event_type, skipped):
            queued = 0
            if chunk.rows:
                chunk_staged = _stage(store, chunk, skipped)
                if chunk_staged is not None:
                    staged.append(chunk_staged)
                    queued = chunk_staged.count  # the chunk's bad lines, when skipped, are not among them
                imported += queued
            progress(chunk.read, queued)
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
        events = csv_events(lines, event_type)
    else:
        events = jsonl_events(lines, event_type)
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


def _stage(store: Store, chunk: _Chunk, skipped: _Skipped | None) -> Staged | None:
    """Write one chunk, its payloads judged by the schema. A refusal is explained with its line number
    and raised; with ``skip_bad`` the chunk's bad lines are then found the slow way and left out."""
    queued_at = SystemClock().now()  # one queue time per transaction, as enqueue_many gives
    rows, numbers = chunk.rows, chunk.lines
    while rows:
        tracked = _Tracked(rows, queued_at)
        try:
            return store.stage_events(tracked)
        except PayloadRefused as error:
            last = tracked.last if error.row is None else error.row
            _bad(numbers[last], _why_refused(rows[last][1]) or f"refused by the database: {error.reason}", skipped)
            assert skipped is not None  # _bad raised otherwise
            kept = [
                (row, number)
                for index, (row, number) in enumerate(zip(rows, numbers))
                if index != last and not _skipped_if_bad(row[1], number, skipped)
            ]
            rows, numbers = [row for row, _ in kept], [number for _, number in kept]
    return None  # every line of the chunk was bad, and skipped


class _Tracked:
    """Rows as stage_events takes them, remembering which one it took last: the one refused."""

    def __init__(self, rows: list[Row], queued_at: datetime) -> None:
        self.rows = rows
        self.queued_at = queued_at
        self.last = -1

    def __iter__(self) -> Iterator[tuple[str, str, datetime]]:
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
