"""`dispatcher import`, as users run it: real files, a real SQLite file, and stdin through a real pipe."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from dispatcher.store import Location, open_store

from .helpers import (
    Invoke,
    RunDispatcher,
    add_endpoint,
    assert_one_line_error,
    dispatcher_command,
    enqueue,
    numbered,
    ok,
    outcome,
    status_of,
    stored_events,
    table_rows,
    write,
)

Stored = Callable[[], list[tuple[int, str, str]]]
PAYLOADS = ['{"id": 1,  "name": "Zoë"}', "[1, 2.50]", '{"id": 3}']


@pytest.fixture
def invoke(invoke_anywhere: Invoke) -> Invoke:
    """The tests through `invoke` run on each backend: SQLite, then PostgreSQL (where a bulk import is a COPY)."""
    return invoke_anywhere


@pytest.fixture
def stored(location: Location) -> Stored:
    """The events in the store, as (id, type, payload) in id order, on the test's backend."""

    def read() -> list[tuple[int, str, str]]:
        if location.backend == "sqlite" and not Path(location.target).exists():
            return []
        store = open_store(location)
        try:
            return [(int(i), t, p) for i, t, p in table_rows(store, "SELECT id, type, payload FROM events ORDER BY id")]
        finally:
            store.close()

    return read


def jsonl(*texts: str) -> str:
    return "".join(f"{text}\n" for text in texts)


def test_import_json_lines(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    path = write(tmp_path, "leads.jsonl", jsonl(PAYLOADS[0], "", PAYLOADS[1], PAYLOADS[2]).replace("\n", "\r\n"))
    result = invoke("import", str(path), "--type", "lead.created")
    assert ok(result) == "imported 3 events\n"
    assert result.stderr == ""
    assert [(event_type, payload) for _, event_type, payload in stored()] == [
        ("lead.created", payload) for payload in PAYLOADS
    ]


def test_import_wrapped_lines_without_type(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    content = jsonl('{"type": "lead.created", "payload": {"id": 1}}', '{"type": "order.paid", "payload": [2]}')
    ok(invoke("import", str(write(tmp_path, "events.ndjson", content))))
    assert [(event_type, payload) for _, event_type, payload in stored()] == [
        ("lead.created", '{"id":1}'),
        ("order.paid", "[2]"),
    ]


def test_import_csv(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    content = '\ufeffname,city\r\n"Doe, Jane",Zürich\r\n"Ng ""Al""",東京\r\n'
    assert ok(invoke("import", str(write(tmp_path, "leads.csv", content)), "--type", "lead.created")) == (
        "imported 2 events\n"
    )
    assert [json.loads(payload) for _, _, payload in stored()] == [
        {"name": "Doe, Jane", "city": "Zürich"},
        {"name": 'Ng "Al"', "city": "東京"},
    ]


def test_format_option_overrides_the_extension(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    ok(invoke("import", str(write(tmp_path, "export.csv", jsonl('{"a": 1}'))), "--type", "t", "--format", "jsonl"))
    ok(invoke("import", str(write(tmp_path, "export.txt", "a\n1\n")), "--type", "t", "--format", "csv"))
    assert [payload for _, _, payload in stored()] == ['{"a": 1}', '{"a":"1"}']


def test_import_from_stdin(invoke: Invoke, stored: Stored) -> None:
    assert ok(invoke("import", "-", "--type", "t", "--format", "jsonl", input=jsonl(*PAYLOADS))) == (
        "imported 3 events\n"
    )
    assert [payload for _, _, payload in stored()] == PAYLOADS


def test_import_from_a_pipe_into_the_real_program(run_dispatcher: RunDispatcher, db_path: Path) -> None:
    stdout = ok(run_dispatcher("import", "-", "--type", "t", "--format", "jsonl", input=numbered(12_000)))
    assert stdout == "imported 12000 events\n"
    assert [json.loads(payload)["n"] for _, _, payload in stored_events(db_path)] == list(range(12_000))


def test_a_bad_line_imports_nothing(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    before = [enqueue(invoke, "earlier", '{"kept": 1}'), enqueue(invoke, "earlier", '{"kept": 2}')]
    content = numbered(15_000) + '{"n": oops}\n' + numbered(10)
    message = assert_one_line_error(invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "t"))
    assert message.startswith("Error: line 15001: invalid payload: ")
    assert [event_id for event_id, _, _ in stored()] == before
    assert [payload for _, _, payload in stored()] == ['{"kept": 1}', '{"kept": 2}']


def test_skip_bad_imports_the_good_lines(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    content = jsonl('{"id": 1}', "NaN", '{"id": 3}', "[", '{"type": "", "payload": {}}', '{"id": 6}')
    result = invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "t", "--skip-bad")
    code, stdout, stderr = outcome(result)
    assert code == 0
    assert stdout == "imported 3 events, skipped 3 bad lines\n"
    assert [line.split(":")[0] for line in stderr.splitlines()] == [
        "skipped line 2",
        "skipped line 4",
        "skipped line 5",
    ]
    assert "invalid event type" in stderr.splitlines()[2]
    assert [payload for _, _, payload in stored()] == ['{"id": 1}', '{"id": 3}', '{"id": 6}']


def test_counts_of_one_are_singular(invoke: Invoke, tmp_path: Path) -> None:
    content = jsonl('{"id": 1}', "oops")
    result = invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "t", "--skip-bad")
    assert ok(result) == "imported 1 event, skipped 1 bad line\n"


def test_import_json_lists_every_skipped_line(invoke: Invoke, tmp_path: Path) -> None:
    content = jsonl('{"id": 1}', "NaN", *["oops"] * 25)
    result = invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "t", "--skip-bad", "--json")
    summary = json.loads(ok(result))
    assert result.stderr == ""  # the JSON holds the bad lines
    assert (summary["imported"], summary["skipped"]) == (1, 26)
    assert [line["line"] for line in summary["skipped_lines"]] == list(range(2, 28))
    assert summary["skipped_lines"][1] == {
        "line": 3,
        "reason": "invalid payload: Expecting value: line 1 column 1 (char 0)",
    }
    clean = invoke("import", str(write(tmp_path, "good.jsonl", numbered(2))), "--type", "t", "--json")
    assert json.loads(ok(clean)) == {"imported": 2, "skipped": 0, "skipped_lines": []}


def test_a_terminal_sees_a_progress_bar_with_the_count_rate_and_time_left(db_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "e.jsonl", numbered(30_000))
    size = f"{path.stat().st_size / 1_000_000:.1f}"
    terminal, stderr = pty.openpty()
    with os.fdopen(terminal, "rb") as screen:
        result = subprocess.run(
            [*dispatcher_command(), "--db", str(db_path), "import", str(path), "--type", "t"],
            stderr=stderr,
            stdout=subprocess.PIPE,
            text=True,
            timeout=60,
        )
        os.close(stderr)
        shown = _read_all(screen).decode()
    assert ok(result) == "imported 30000 events\n"
    lines = [re.sub(r"\x1b\[[?\d;]*[a-zA-Z]", "", line).strip() for line in re.split(r"[\r\n]", shown)]
    lines = [line for line in lines if line.startswith("importing")]
    total = re.escape(size)
    assert re.search(rf"100%  30,000 events, [\d,]+/s, {total} of {total} MB, 0:00 left$", lines[-1])
    assert any(
        re.search(rf"%  [\d,]+ events, [\d,]+/s, [\d.]+ of {total} MB, \d+:\d\d left$", line) for line in lines[:-1]
    )


def _read_all(screen: BinaryIO) -> bytes:
    """What the program wrote to its terminal, up to the point it closed (EIO on Linux)."""
    shown = b""
    try:
        while chunk := os.read(screen.fileno(), 65536):
            shown += chunk
    except OSError:
        pass
    return shown


def test_skip_bad_shows_the_first_20(invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
    content = jsonl(*["oops"] * 25, '{"id": 1}')
    code, stdout, stderr = outcome(
        invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "t", "--skip-bad")
    )
    assert code == 0
    assert stdout == "imported 1 event, skipped 25 bad lines\n"
    shown = stderr.splitlines()
    assert shown[:20] == [
        f"skipped line {n}: invalid payload: Expecting value: line 1 column 1 (char 0)" for n in range(1, 21)
    ]
    assert shown[20:] == ["... and 5 more"]


def test_a_bad_csv_row(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    path = write(tmp_path, "leads.csv", "a,b\n1,2\n3\n")
    message = assert_one_line_error(invoke("import", str(path), "--type", "t"))
    assert message == "Error: line 3: invalid CSV: 1 field, where the header has 2"
    assert stored() == []


@pytest.mark.parametrize(
    "args,message",
    [
        (("missing.jsonl", "--type", "t"), "cannot read '{tmp}/missing.jsonl': No such file or directory"),
        (("events.txt", "--type", "t"), "cannot tell the format of '{tmp}/events.txt' from its extension"),
        (("-", "--type", "t"), "cannot tell the format without a file name: give --format jsonl or csv"),
        (("events.csv",), "a CSV file needs --type"),
        (("events.jsonl", "--type", ""), "invalid event type"),
        (("events.jsonl", "--format", "xml"), "Invalid value for '--format'"),
    ],
    ids=["missing file", "unknown extension", "stdin without --format", "CSV without --type", "empty type", "format"],
)
def test_bad_input(
    invoke: Invoke,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
    stored: Stored,
) -> None:
    write(tmp_path, "events.txt", "{}\n")
    write(tmp_path, "events.csv", "a\n1\n")
    write(tmp_path, "events.jsonl", "{}\n")
    file, *options = args
    path = file if file == "-" else str(tmp_path / file)
    line = assert_one_line_error(invoke("import", path, *options, input=""))
    assert line.startswith(f"Error: {message.format(tmp=tmp_path)}")
    assert stored() == []


def test_a_missing_file_creates_no_database(invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_one_line_error(invoke("import", str(tmp_path / "missing.jsonl"), "--type", "t"))
    assert not db_path.exists()


def test_imported_events_are_queued_for_subscribed_endpoints(invoke: Invoke, tmp_path: Path) -> None:
    leads = add_endpoint(invoke, "https://example.com/leads", "--event", "lead.*")["id"]
    orders = add_endpoint(invoke, "https://example.com/orders", "--event", "order.*")["id"]
    content = numbered(3) + jsonl('{"type": "order.paid", "payload": {"id": 9}}')
    ok(invoke("import", str(write(tmp_path, "e.jsonl", content)), "--type", "lead.created"))
    assert {row["endpoint"]: row["pending"] for row in status_of(invoke)} == {leads: 3, orders: 1}


def test_a_large_file_arrives_whole_and_in_order(invoke: Invoke, tmp_path: Path, stored: Stored) -> None:
    assert ok(invoke("import", str(write(tmp_path, "e.jsonl", numbered(25_000))), "--type", "t")) == (
        "imported 25000 events\n"
    )
    events = stored()
    assert [json.loads(payload)["n"] for _, _, payload in events] == list(range(25_000))
    ids = [event_id for event_id, _, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == 25_000
