"""Importing files into the queue: real files on disk, a real SQLite file, the rows checked in the events table."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from dispatcher import importing
from dispatcher.errors import DispatcherError
from dispatcher.importing import CHUNK_EVENTS, ImportResult
from dispatcher.store import Store
from dispatcher.store.sqlite.connection import connect
from dispatcher.store.types import Staged

from .helpers import numbered, table_rows, write

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def run_import(
    store: Store,
    file: Path | BinaryIO,
    *,
    format: str | None = None,
    event_type: str | None = None,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] = lambda read, events: None,
) -> ImportResult:
    with importing.open_source(file, format) as source:
        return importing.import_events(store, source, event_type=event_type, skip_bad=skip_bad, progress=progress)


def events(db_path: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute("SELECT id, type, payload FROM events ORDER BY id").fetchall()


def events_in(store: Store) -> list[tuple[int, str, str]]:
    """The events table, read through the store, on either backend."""
    rows = table_rows(store, "SELECT id, type, payload FROM events ORDER BY id")
    return [(event_id, type_, payload) for event_id, type_, payload in rows]


def type_and_payload(db_path: Path) -> list[tuple[str, str]]:
    return [(event_type, payload) for _, event_type, payload in events(db_path)]


def lines(*texts: str, end: str = "\n") -> str:
    return "".join(text + end for text in texts)


# --- JSON Lines -------------------------------------------------------------------

# Odd spacing, key order, unicode and escapes: all kept as written.
PLAIN = ['{"id": 1,   "b": 2, "a": 1}', '{"name":"Zoë","note":"caf\\u00e9"}', "[1, 2.50, {}]", '{"nested": {"x": []}}']


def test_payload_lines_are_stored_byte_for_byte(store: Store, db_path: Path, tmp_path: Path) -> None:
    result = run_import(store, write(tmp_path, "leads.jsonl", lines(*PLAIN)), event_type="lead.created")
    assert result == ImportResult(imported=4, skipped=[], skipped_count=0)
    assert type_and_payload(db_path) == [("lead.created", text) for text in PLAIN]


def test_wrapped_lines_carry_their_type_and_a_compact_payload(store: Store, db_path: Path, tmp_path: Path) -> None:
    content = lines(
        '{"type": "lead.created", "payload": {"id": 1, "name": "Zoë"}}',
        '{"payload": [1, 2], "type": "lead.deleted"}',
        '{"type": "lead.updated", "payload": {"name": "\\u00e9"}}',
    )
    run_import(store, write(tmp_path, "events.jsonl", content))
    assert type_and_payload(db_path) == [
        ("lead.created", '{"id":1,"name":"Zoë"}'),
        ("lead.deleted", "[1,2]"),
        ("lead.updated", '{"name":"é"}'),
    ]


def test_wrapped_and_payload_lines_mix(store: Store, db_path: Path, tmp_path: Path) -> None:
    content = lines(
        '{"id": 1}',
        '{"type": "lead.deleted", "payload": {"id": 2}}',
        # Not a wrapper: a third key, or a payload that is not an object or an array.
        '{"type": "x", "payload": {}, "more": 1}',
        '{"type": "x", "payload": 5}',
        '{"type": "wrapped", "payload": {"type": "inner", "payload": {}}}',
    )
    run_import(store, write(tmp_path, "events.jsonl", content), event_type="lead.created")
    assert type_and_payload(db_path) == [
        ("lead.created", '{"id": 1}'),
        ("lead.deleted", '{"id":2}'),
        ("lead.created", '{"type": "x", "payload": {}, "more": 1}'),
        ("lead.created", '{"type": "x", "payload": 5}'),
        ("wrapped", '{"type":"inner","payload":{}}'),
    ]


def test_blank_lines_crlf_whitespace_and_a_bom(store: Store, db_path: Path, tmp_path: Path) -> None:
    content = b'\xef\xbb\xbf{"id": 1}\r\n\r\n   \r\n \t{"id": 2} \t\r\n\n{"id": 3}'  # no newline at the end
    result = run_import(store, write(tmp_path, "leads.jsonl", content), event_type="t")
    assert result.imported == 3
    assert [payload for _, payload in type_and_payload(db_path)] == ['{"id": 1}', '{"id": 2}', '{"id": 3}']


BAD_LINES = {
    "invalid JSON": ('{"id": ', "invalid payload: Expecting value"),
    "trailing text": ('{"id": 1} x', "invalid payload: Extra data"),
    "NaN": ('{"id": NaN}', "invalid payload: NaN is not JSON"),
    "Infinity in a wrapper": ('{"type": "t", "payload": [-Infinity]}', "invalid payload"),
    "a number": ("42", "invalid payload: must be a JSON object or array, not int"),
    "a string": ('"text"', "invalid payload: must be a JSON object or array, not str"),
    "null": ("null", "invalid payload: must be a JSON object or array, not NoneType"),
    "latin-1": ('{"name": "caf\xe9"}'.encode("latin-1"), "invalid payload: not UTF-8"),
    "an empty type": ('{"type": "", "payload": {}}', "invalid event type"),
    "a type that is no text": ('{"type": 5, "payload": {}}', "invalid event type"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "invalid payload: nested too deeply"),
}


def _bad_file(tmp_path: Path, bad: str | bytes) -> Path:
    """A bad 3rd line between good ones (line 2 is blank)."""
    bad_bytes = bad.encode("utf-8") if isinstance(bad, str) else bad
    return write(tmp_path, "leads.jsonl", b'{"id": 1}\n\n' + bad_bytes + b'\n{"id": 4}\n')


@pytest.mark.parametrize("bad,reason", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_stops_the_import_before_anything_is_written(
    store: Store, db_path: Path, tmp_path: Path, bad: str | bytes, reason: str
) -> None:
    store.insert_event("earlier", '{"kept": true}')
    with pytest.raises(DispatcherError) as raised:
        run_import(store, _bad_file(tmp_path, bad), event_type="t")
    message = str(raised.value)
    assert message.startswith(f"line 3: {reason}")
    assert "\n" not in message and raised.value.exit_code == 2
    assert type_and_payload(db_path) == [("earlier", '{"kept": true}')]


@pytest.mark.parametrize("bad,reason", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_skip_bad_imports_the_rest_and_says_which_lines(
    store: Store, db_path: Path, tmp_path: Path, bad: str | bytes, reason: str
) -> None:
    result = run_import(store, _bad_file(tmp_path, bad), event_type="t", skip_bad=True)
    assert result.imported == 2 and result.skipped_count == 1
    ((number, why),) = result.skipped
    assert number == 3 and why.startswith(reason)
    assert [payload for _, payload in type_and_payload(db_path)] == ['{"id": 1}', '{"id": 4}']


def test_a_payload_line_needs_a_type(store: Store, db_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "events.jsonl", lines('{"type": "a", "payload": {}}', '{"id": 2}'))
    with pytest.raises(DispatcherError, match=r'^line 2: no event type: give --type or a \{"type", "payload"\} line$'):
        run_import(store, path)
    assert events(db_path) == []
    result = run_import(store, path, skip_bad=True)
    assert result.imported == 1 and result.skipped[0][0] == 2


def test_skip_bad_keeps_the_first_reasons_and_counts_them_all(
    store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "KEPT_SKIPPED", 3)
    path = write(tmp_path, "events.jsonl", lines(*["oops"] * 10, '{"id": 1}'))
    result = run_import(store, path, event_type="t", skip_bad=True)
    assert result.imported == 1 and result.skipped_count == 10
    assert [number for number, _ in result.skipped] == [1, 2, 3]


# --- CSV ---------------------------------------------------------------------------


def test_csv_rows_become_objects_of_strings(store: Store, db_path: Path, tmp_path: Path) -> None:
    content = (
        "\ufeffname,city,count,ok,note\r\n"
        '"Doe, Jane",Zürich,42,true,\r\n'
        "\r\n"
        '"Smith ""JJ""",東京,-1.5,null,"two\r\nlines"\r\n'
    )
    result = run_import(store, write(tmp_path, "leads.csv", content), event_type="lead.created")
    assert result.imported == 2
    rows = type_and_payload(db_path)
    assert [event_type for event_type, _ in rows] == ["lead.created", "lead.created"]
    assert [json.loads(payload) for _, payload in rows] == [
        {"name": "Doe, Jane", "city": "Zürich", "count": "42", "ok": "true", "note": ""},
        {"name": 'Smith "JJ"', "city": "東京", "count": "-1.5", "ok": "null", "note": "two\r\nlines"},
    ]
    assert rows[0][1] == '{"name":"Doe, Jane","city":"Zürich","count":"42","ok":"true","note":""}'


def test_csv_with_old_mac_line_ends(store: Store, db_path: Path, tmp_path: Path) -> None:
    run_import(store, write(tmp_path, "leads.csv", "a,b\r1,2\r3,4\r"), event_type="t")
    assert [json.loads(payload) for _, payload in type_and_payload(db_path)] == [
        {"a": "1", "b": "2"},
        {"a": "3", "b": "4"},
    ]


CSV_WITH_BAD_ROWS = (
    b"a,b\n"  # line 1
    b"1,2\n"
    b'"multi\nline",3\n'  # lines 3-4
    b"1,2,3\n"  # line 5: a field too many
    b"only\n"  # line 6: one too few
    b"caf\xe9,5\n"  # line 7: latin-1
    b'"x"y,6\n'  # line 8: bad quoting
    b"7,8\n"
)


def test_a_bad_csv_row_stops_the_import(store: Store, db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(DispatcherError, match=r"^line 5: invalid CSV: 3 fields, where the header has 2$"):
        run_import(store, write(tmp_path, "leads.csv", CSV_WITH_BAD_ROWS), event_type="t")
    assert events(db_path) == []


def test_skip_bad_csv_rows(store: Store, db_path: Path, tmp_path: Path) -> None:
    result = run_import(store, write(tmp_path, "leads.csv", CSV_WITH_BAD_ROWS), event_type="t", skip_bad=True)
    assert result.imported == 3
    assert [number for number, _ in result.skipped] == [5, 6, 7, 8]
    assert result.skipped[1][1] == "invalid CSV: 1 field, where the header has 2"
    assert result.skipped[2][1] == "invalid payload: not UTF-8"
    assert result.skipped[3][1].startswith("invalid CSV: ")
    assert [json.loads(payload) for _, payload in type_and_payload(db_path)] == [
        {"a": "1", "b": "2"},
        {"a": "multi\nline", "b": "3"},
        {"a": "7", "b": "8"},
    ]


@pytest.mark.parametrize(
    "content,message",
    [
        ("a,b,a\n1,2,3\n", "line 1: invalid CSV header: column 'a' appears twice"),
        ('\n"a\n', "line 2: invalid CSV header: unexpected end of data"),
        (b"caf\xe9\n1\n", "line 1: invalid CSV header: not UTF-8"),
    ],
    ids=["duplicate column", "unterminated", "latin-1"],
)
@pytest.mark.parametrize("skip_bad", [False, True])
def test_a_bad_header_stops_even_skip_bad(
    store: Store, db_path: Path, tmp_path: Path, content: str | bytes, message: str, skip_bad: bool
) -> None:
    with pytest.raises(DispatcherError) as raised:
        run_import(store, write(tmp_path, "leads.csv", content), event_type="t", skip_bad=skip_bad)
    assert str(raised.value) == message
    assert events(db_path) == []


def test_csv_needs_a_type(store: Store, tmp_path: Path) -> None:
    with pytest.raises(DispatcherError, match="CSV file needs --type"):
        run_import(store, write(tmp_path, "leads.csv", "a\n1\n"))


def test_an_empty_file_imports_nothing(store: Store, tmp_path: Path) -> None:
    assert run_import(store, write(tmp_path, "empty.csv", ""), event_type="t").imported == 0
    assert run_import(store, write(tmp_path, "empty.jsonl", "\n\n"), event_type="t").imported == 0


# --- the format, the file, the type --------------------------------------------------


@pytest.mark.parametrize(
    "name,format,expected",
    [
        ("events.jsonl", None, "jsonl"),
        ("events.ndjson", None, "jsonl"),
        ("EVENTS.JSONL", None, "jsonl"),
        ("events.csv", None, "csv"),
        ("events.csv", "jsonl", "jsonl"),
        ("events.txt", "csv", "csv"),
    ],
)
def test_the_format_comes_from_the_extension_unless_given(
    tmp_path: Path, name: str, format: str | None, expected: str
) -> None:
    with importing.open_source(write(tmp_path, name, "{}\n"), format) as source:
        assert source.format == expected


@pytest.mark.parametrize(
    "file,format,message",
    [
        ("events.txt", None, "cannot tell the format of '{tmp}/events.txt' from its extension: give --format"),
        ("events.json", None, "cannot tell the format of '{tmp}/events.json' from its extension"),
        ("stream", None, "cannot tell the format without a file name: give --format jsonl or csv"),
        ("events.jsonl", "xml", "unknown format 'xml': use jsonl or csv"),
        ("missing.jsonl", None, "cannot read '{tmp}/missing.jsonl': No such file or directory"),
        ("folder.jsonl", None, "cannot read '{tmp}/folder.jsonl': Is a directory"),
    ],
)
def test_what_cannot_be_opened(tmp_path: Path, file: str, format: str | None, message: str) -> None:
    for name in ("events.txt", "events.json", "events.jsonl"):
        write(tmp_path, name, "{}\n")
    (tmp_path / "folder.jsonl").mkdir()
    source = io.BytesIO(b"{}\n") if file == "stream" else tmp_path / file
    with pytest.raises(DispatcherError) as raised, importing.open_source(source, format):
        pass
    assert str(raised.value).startswith(message.format(tmp=tmp_path))


@pytest.mark.parametrize("event_type", ["", "   "])
def test_a_bad_type_is_refused_before_reading(store: Store, tmp_path: Path, event_type: str) -> None:
    with pytest.raises(DispatcherError, match="invalid event type"):
        run_import(store, write(tmp_path, "events.jsonl", "{}\n"), event_type=event_type)


class Pipe(io.RawIOBase):
    """A stream that can be read once and cannot seek, like stdin through a pipe."""

    def __init__(self, content: bytes) -> None:
        self.content = io.BytesIO(content)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.content.read(min(len(buffer), 4096))
        buffer[: len(data)] = data
        return len(data)


def test_a_pipe_is_read_once(store: Store, db_path: Path) -> None:
    pipe = io.BufferedReader(Pipe(lines(*PLAIN).encode("utf-8")))
    assert not pipe.seekable()
    with importing.open_source(pipe, "jsonl") as source:
        assert source.size is None
        assert importing.import_events(store, source, event_type="t").imported == 4
    assert [payload for _, payload in type_and_payload(db_path)] == PLAIN


# --- chunks, order, fan-out, progress ------------------------------------------------


def test_a_large_file_goes_in_chunks_in_the_file_order(
    any_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks: list[int] = []
    stage_events = any_store.stage_events

    def recorded(rows: Iterable[Any]) -> Staged:
        rows = list(rows)
        chunks.append(len(rows))
        return stage_events(rows)

    monkeypatch.setattr(any_store, "stage_events", recorded)
    result = run_import(any_store, write(tmp_path, "events.jsonl", numbered(25_000)), event_type="t")
    assert result.imported == 25_000
    assert chunks == [CHUNK_EVENTS, CHUNK_EVENTS, 5_000]
    stored = events_in(any_store)
    assert [json.loads(payload)["n"] for _, _, payload in stored] == list(range(25_000))
    ids = [event_id for event_id, _, _ in stored]
    assert ids == sorted(ids)


def test_producers_get_the_write_lock_between_chunks(store: Store, db_path: Path, tmp_path: Path) -> None:
    """Another process's insert, made while the import runs, goes through at once; and no endpoint
    gets any of the import's events before the whole file is in."""
    store.insert_endpoint({"url": "https://example.com/t", "secret": "s", "events": ["t"]})
    other = connect(db_path, busy_timeout=0)  # fails at once if the lock is held
    queued_meanwhile: list[int] = []

    def producer_inserts(read: int, events: int) -> None:
        with other:
            other.execute("INSERT INTO events (type, payload) VALUES ('other', '{}')")
        queued_meanwhile.append(other.execute("SELECT count(*) FROM pending").fetchone()[0])

    try:
        run_import(store, write(tmp_path, "events.jsonl", numbered(25_000)), event_type="t", progress=producer_inserts)
    finally:
        other.close()
    types = [event_type for event_type, _ in type_and_payload(db_path)]
    # A progress report after each chunk, and an insert after each report.
    assert queued_meanwhile == [0, 0, 0]
    assert [n for n, event_type in enumerate(types) if event_type == "other"] == [
        CHUNK_EVENTS,
        2 * CHUNK_EVENTS + 1,
        25_000 + 2,
    ]
    assert store.status(NOW)[0].pending == 25_000


def test_a_refusal_in_a_later_chunk_drops_the_chunks_before(store: Store, db_path: Path, tmp_path: Path) -> None:
    """Whatever refuses a row (here a trigger of the application's), nothing of the file stays."""
    store.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.payload = '{\"n\": 15000}' "
        "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"
    )
    with pytest.raises(DispatcherError) as raised:
        run_import(store, write(tmp_path, "events.jsonl", numbered(25_000)), event_type="t")
    assert str(raised.value) == "line 15001: refused by the database: refused for the test"
    assert events(db_path) == []


def test_an_import_leaves_the_producers_fan_out_as_it_was(store: Store, db_path: Path, tmp_path: Path) -> None:
    """The import holds the fan-out back for its own rows only, and never by dropping the trigger:
    after an import, and after one refused halfway, a producer's insert is queued as before."""
    hook = store.insert_endpoint({"url": "https://example.com/t", "secret": "s", "events": ["t"]})
    trigger = "SELECT sql FROM sqlite_master WHERE name = 'events_fan_out'"
    with closing(connect(db_path)) as other:
        (before,) = other.execute(trigger).fetchone()
        run_import(store, write(tmp_path, "good.jsonl", numbered(10)), event_type="t")
        with pytest.raises(DispatcherError, match="line 3"):
            run_import(store, write(tmp_path, "bad.jsonl", lines('{"n": 1}', '{"n": 2}', "[1,")), event_type="t")
        with other:
            other.execute("INSERT INTO events (type, payload) VALUES ('t', '{}')")
        assert other.execute(trigger).fetchone() == (before,)
        assert other.execute("SELECT count(*) FROM dispatcher_staging").fetchone() == (0,)
    assert {row.endpoint: row.pending for row in store.status(NOW)} == {hook: 11}


def test_imported_events_fan_out_to_subscribed_endpoints(any_store: Store, tmp_path: Path) -> None:
    leads = any_store.insert_endpoint({"url": "https://example.com/leads", "secret": "s", "events": ["lead.*"]})
    others = any_store.insert_endpoint({"url": "https://example.com/others", "secret": "s", "events": ["order.*"]})
    content = lines('{"id": 1}', '{"type": "order.paid", "payload": {"id": 2}}', '{"id": 3}')
    run_import(any_store, write(tmp_path, "events.jsonl", content), event_type="lead.created")
    pending = dict(table_rows(any_store, "SELECT endpoint_id, count(*) FROM pending GROUP BY endpoint_id"))
    assert pending == {leads: 2, others: 1}


@pytest.mark.parametrize("skip_bad", [False, True])
def test_progress_adds_up_to_the_file(store: Store, tmp_path: Path, skip_bad: bool) -> None:
    path = write(tmp_path, "events.jsonl", numbered(25_000) + "bad\n" * skip_bad)
    reported: list[tuple[int, int]] = []
    with importing.open_source(path) as source:
        assert source.size == path.stat().st_size
        importing.import_events(
            store, source, event_type="t", skip_bad=skip_bad, progress=lambda *done: reported.append(done)
        )
        assert sum(read for read, _ in reported) == source.size
    assert sum(events for _, events in reported) == 25_000  # the events queued, not the bad line
    assert len(reported) == 3


def test_skip_bad_with_many_bad_lines_in_one_chunk(any_store: Store, tmp_path: Path) -> None:
    # Every other line is bad: found in one slow pass over the chunk, not one retry per bad line.
    content = lines(*(json.dumps({"n": n}) if n % 2 else "{not json" for n in range(6_000)))
    result = run_import(any_store, write(tmp_path, "events.jsonl", content), event_type="t", skip_bad=True)
    assert (result.imported, result.skipped_count) == (3_000, 3_000)
    assert [number for number, _ in result.skipped[:3]] == [1, 3, 5]
    assert [json.loads(payload)["n"] for _, _, payload in events_in(any_store)][:3] == [1, 3, 5]


def test_a_payload_over_1_mib_stops_the_import_with_its_line(any_store: Store, tmp_path: Path) -> None:
    big = '{"blob": "' + "x" * (1024 * 1024) + '"}'
    path = write(tmp_path, "big.jsonl", lines('{"n": 1}', big, json.dumps({"type": "t", "payload": json.loads(big)})))
    with pytest.raises(DispatcherError, match=r"^line 2: invalid payload: 1,048,588 bytes, over the limit"):
        run_import(any_store, path, event_type="t")
    assert events_in(any_store) == []
    result = run_import(any_store, path, event_type="t", skip_bad=True)
    assert (result.imported, [line for line, _ in result.skipped]) == (1, [2, 3])
