"""dispatcher.producer and the events table: the producer side, from Python and from plain SQL."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import dispatcher
from dispatcher import endpoints, importing
from dispatcher.clock import ManualClock
from dispatcher.errors import DispatcherError
from dispatcher.store import Store
from dispatcher.store.errors import StoreError


@pytest.fixture
def raw(store: Store, db_path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, as a producer in another language would have.

    Depends on ``store`` so the schema exists; autocommit, default pragmas.
    """
    conn = sqlite3.connect(db_path, isolation_level=None)
    yield conn
    conn.close()


def event_rows(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    return conn.execute("SELECT id, type, payload FROM events ORDER BY id").fetchall()


def deliveries_by_endpoint(conn: sqlite3.Connection, event_id: int) -> list[int]:
    """The endpoints the event is queued or batched for."""
    rows = conn.execute(
        "SELECT endpoint_id FROM pending WHERE event_id = ? UNION ALL "
        "SELECT endpoint_id FROM deliveries WHERE event_id = ? ORDER BY endpoint_id",
        (event_id, event_id),
    )
    return [row[0] for row in rows]


def raw_insert(conn: sqlite3.Connection, event_type: str, payload: Any = '{"id":1}') -> int:
    cursor = conn.execute("INSERT INTO events (type, payload) VALUES (?, ?)", (event_type, payload))
    return int(cursor.lastrowid or 0)


# --- the Python API ---------------------------------------------------------------


def test_enqueue_returns_increasing_ids(db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        ids = [queue.enqueue("lead.created", {"n": n}) for n in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    with sqlite3.connect(db_path) as conn:
        assert [(row[0], row[2]) for row in event_rows(conn)] == [(i, f'{{"n":{n}}}') for n, i in enumerate(ids)]


def test_open_creates_the_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    assert not path.exists()
    with dispatcher.open(path) as queue:
        queue.enqueue("x", [])
    assert path.exists()


def test_enqueue_many_returns_the_count(db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        count = queue.enqueue_many("lead.created", ({"n": n} for n in range(7)))
    assert count == 7
    with sqlite3.connect(db_path) as conn:
        rows = event_rows(conn)
    assert [row[1] for row in rows] == ["lead.created"] * 7
    assert [row[2] for row in rows] == [f'{{"n":{n}}}' for n in range(7)]


def test_enqueue_many_of_nothing_is_zero(db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        assert queue.enqueue_many("lead.created", []) == 0


@pytest.mark.parametrize("bad", ["not json", "1", {"x": float("nan")}, b"\xff", '{"a":NaN}'])
def test_enqueue_many_is_all_or_nothing(db_path: Path, bad: Any) -> None:
    payloads = [{"n": 1}, {"n": 2}, bad, {"n": 4}]
    with dispatcher.open(db_path) as queue:
        with pytest.raises(DispatcherError):
            queue.enqueue_many("lead.created", payloads)
        # The handle is still usable after the refusal.
        queue.enqueue("after", {"ok": True})
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'lead.created'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pending").fetchone()[0] == 0


def test_enqueue_many_refuses_an_empty_type(db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        with pytest.raises(DispatcherError):
            queue.enqueue_many("", [{"n": 1}])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_enqueue_refuses_bad_input_and_stores_nothing(db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        with pytest.raises(DispatcherError):
            queue.enqueue("lead.created", "null")
        with pytest.raises(DispatcherError):
            queue.enqueue("  ", {"a": 1})
    with sqlite3.connect(db_path) as conn:
        assert event_rows(conn) == []


def test_one_off_enqueue(db_path: Path) -> None:
    first = dispatcher.enqueue(db_path, "lead.created", {"id": 1})
    second = dispatcher.enqueue(str(db_path), "lead.updated", [1, 2])
    assert second > first
    with sqlite3.connect(db_path) as conn:
        assert event_rows(conn) == [(first, "lead.created", '{"id":1}'), (second, "lead.updated", "[1,2]")]


def test_json_text_is_stored_exactly(db_path: Path) -> None:
    text = '{ "z" : 1,\n  "a": "Zo\\u00eb", "b": 1.50 }  '
    event_id = dispatcher.enqueue(db_path, "lead.created", text)
    with sqlite3.connect(db_path) as conn:
        (stored,) = conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    assert stored == text


# --- the database's own rules, for producers writing SQL -----------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "{",
        "{'a': 1}",
        "1",
        '"x"',
        "null",
        "true",
        "NaN",
        '{"a":NaN}',
        "[Infinity]",
        '{"a":-Infinity}',
        "",
        b'{"a":1}',  # a BLOB, even of valid JSON: the column holds text
        42,
    ],
)
def test_database_refuses_bad_payloads_from_plain_sql(raw: sqlite3.Connection, payload: Any) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        raw_insert(raw, "lead.created", payload)
    assert event_rows(raw) == []


@pytest.mark.parametrize("event_type", ["", None])
def test_database_refuses_bad_types_from_plain_sql(raw: sqlite3.Connection, event_type: Any) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        raw_insert(raw, event_type)
    assert event_rows(raw) == []


def test_database_accepts_objects_and_arrays_from_plain_sql(raw: sqlite3.Connection) -> None:
    first = raw_insert(raw, "a", '{ "x" : [1, 2] }')
    second = raw_insert(raw, "b", "[]")
    assert event_rows(raw) == [(first, "a", '{ "x" : [1, 2] }'), (second, "b", "[]")]


def test_ids_are_never_reused(store: Store, raw: sqlite3.Connection, db_path: Path) -> None:
    endpoints.add(store, "https://example.com/hook")
    first = dispatcher.enqueue(db_path, "lead.created", {"n": 1})
    newest = dispatcher.enqueue(db_path, "lead.created", {"n": 2})
    # Pruning the newest event must not let a later one take its id: a
    # receiver that saw id `newest` would drop the new event as a duplicate.
    raw.execute("DELETE FROM pending WHERE event_id = ?", (newest,))
    raw.execute("DELETE FROM events WHERE id = ?", (newest,))
    assert [row[0] for row in event_rows(raw)] == [first]
    again = raw_insert(raw, "lead.created")
    assert again > newest
    assert dispatcher.enqueue(db_path, "lead.created", {"n": 3}) > again


# --- fan-out -------------------------------------------------------------------------


def test_fan_out_follows_glob_patterns(store: Store, raw: sqlite3.Connection, clock: ManualClock) -> None:
    lead = endpoints.add(store, "https://example.com/lead", events=["lead.*"]).id
    capital = endpoints.add(store, "https://example.com/capital", events=["Lead.*"]).id
    two = endpoints.add(store, "https://example.com/two", events=["a.*", "b.x"]).id
    everything = endpoints.add(store, "https://example.com/all").id
    exact = endpoints.add(store, "https://example.com/exact", events=["lead.created"]).id
    off = endpoints.add(store, "https://example.com/off", events=["lead.*"]).id
    endpoints.disable(store, off, clock.now())

    expected = {
        "lead.created": [lead, everything, exact, off],
        "lead.updated": [lead, everything, off],
        # GLOB is case-sensitive.
        "Lead.created": [capital, everything],
        # `*` is not limited to one dotted segment.
        "lead.note.added": [lead, everything, off],
        "a.b.c": [two, everything],
        "b.x": [two, everything],
        "b.xy": [everything],
        "order.paid": [everything],
        "lead": [everything],
    }
    for event_type, endpoint_ids in expected.items():
        event_id = raw_insert(raw, event_type)
        assert deliveries_by_endpoint(raw, event_id) == sorted(endpoint_ids), event_type
    # Every delivery starts queued, in no batch.
    assert raw.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


def test_fan_out_gives_one_delivery_even_when_several_patterns_match(store: Store, raw: sqlite3.Connection) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", events=["lead.*", "*", "lead.created"]).id
    event_id = raw_insert(raw, "lead.created")
    assert deliveries_by_endpoint(raw, event_id) == [endpoint]


def test_fan_out_uses_endpoints_subscribed_at_insert_time(store: Store, raw: sqlite3.Connection) -> None:
    before = raw_insert(raw, "lead.created")
    endpoint = endpoints.add(store, "https://example.com/hook").id
    after = raw_insert(raw, "lead.created")
    assert deliveries_by_endpoint(raw, before) == []
    assert deliveries_by_endpoint(raw, after) == [endpoint]


def test_fan_out_also_happens_for_the_python_api(store: Store, db_path: Path) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", events=["lead.*"]).id
    with dispatcher.open(db_path) as queue:
        matched = queue.enqueue("lead.created", {"id": 1})
        unmatched = queue.enqueue("order.paid", {"id": 1})
        queue.enqueue_many("lead.updated", [{"id": 2}, {"id": 3}])
    with sqlite3.connect(db_path) as conn:
        assert deliveries_by_endpoint(conn, matched) == [endpoint]
        assert deliveries_by_endpoint(conn, unmatched) == []
        assert conn.execute("SELECT count(*) FROM pending").fetchone()[0] == 3


# --- created_at ----------------------------------------------------------------------


def test_created_at_defaults_to_utc_millisecond_text(raw: sqlite3.Connection, db_path: Path) -> None:
    before = datetime.now(UTC)
    raw_id = raw_insert(raw, "lead.created")
    api_id = dispatcher.enqueue(db_path, "lead.created", {"id": 2})
    after = datetime.now(UTC)
    for event_id in (raw_id, api_id):
        (created_at,) = raw.execute("SELECT created_at FROM events WHERE id = ?", (event_id,)).fetchone()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", created_at), created_at
        moment = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        # Millisecond text is truncated, so allow one millisecond either way.
        assert before - timedelta(milliseconds=1) <= moment <= after + timedelta(milliseconds=1)


# --- bulk fan-out ------------------------------------------------------------------------


@pytest.mark.parametrize("types", [["lead.created"], ["lead.created", "order.paid"], [f"t{n}.x" for n in range(7)]])
def test_bulk_fan_out_matches_the_trigger(store: Store, db_path: Path, types: list[str]) -> None:
    """enqueue_many and import fan out a whole range themselves (type by type, or in one pass when a
    range has many types); it must give what the trigger gives row by row."""
    endpoints.add(store, "https://example.com/a", events=["lead.*"])
    endpoints.add(store, "https://example.com/b", events=["t3.*", "order.*", "t5.x"])
    endpoints.add(store, "https://example.com/c")
    with dispatcher.open(db_path) as queue:
        one_by_one = [queue.enqueue(event_type, {"n": 1}) for event_type in types]
        for event_type in types:
            queue.enqueue_many(event_type, [{"n": 2}])
    # One import holds every type in one range.
    lines = "".join(json.dumps({"type": event_type, "payload": {"n": 3}}) + "\n" for event_type in types)
    with importing.open_source(io.BytesIO(lines.encode()), "jsonl") as source:
        importing.import_events(store, source)
    with sqlite3.connect(db_path) as conn:
        expected = [deliveries_by_endpoint(conn, event_id) for event_id in one_by_one]
        for copy in (1, 2):
            in_bulk = [event_id + copy * len(types) for event_id in one_by_one]
            assert [deliveries_by_endpoint(conn, event_id) for event_id in in_bulk] == expected


def test_the_trigger_is_back_after_a_bulk_insert_even_a_refused_one(store: Store, db_path: Path) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook").id
    with dispatcher.open(db_path) as queue:
        queue.enqueue_many("a", [{"n": n} for n in range(3)])
        with pytest.raises(DispatcherError, match="payload 2: invalid payload"):
            queue.enqueue_many("a", ['{"ok": 1}', "not json", '{"ok": 2}'])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'events_fan_out'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)  # nothing of the refused call
        event_id = conn.execute("INSERT INTO events (type, payload) VALUES ('a', '{}')").lastrowid
        assert deliveries_by_endpoint(conn, int(event_id or 0)) == [endpoint]


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 5 * 1024 * 1024])
def test_a_payload_over_1_mib_is_refused_by_the_api_and_by_the_schema(
    store: Store, db_path: Path, raw: sqlite3.Connection, size: int
) -> None:
    big = '{"blob": "' + "x" * (size - 12) + '"}'
    assert len(big.encode()) == size
    with dispatcher.open(db_path) as queue:
        queue.enqueue("a", {"small": True})
        with pytest.raises(DispatcherError, match=f"invalid payload: {size:,} bytes, over the limit"):
            queue.enqueue("a", big)
        with pytest.raises(DispatcherError, match="payload 2: invalid payload: .* over the limit"):
            queue.enqueue_many("a", ["{}", big])
    with pytest.raises(sqlite3.IntegrityError, match="payload over 1 MiB"):
        raw.execute("INSERT INTO events (type, payload) VALUES ('a', ?)", (big,))
    assert raw.execute("SELECT count(*) FROM events").fetchone() == (1,)  # only the small one
    fits = '{"blob": "' + "é" * ((1024 * 1024 - 12) // 2) + '"}'
    with dispatcher.open(db_path) as queue:
        queue.enqueue("a", fits)


def test_a_refused_enqueue_leaves_no_transaction_open(store: Store, db_path: Path, raw: sqlite3.Connection) -> None:
    """Or the handle would keep the write lock, and every other producer would wait on it."""
    with dispatcher.open(db_path) as queue:
        with pytest.raises(DispatcherError):
            queue.enqueue("a", '{"broken": ')
        raw.execute("PRAGMA busy_timeout = 0")
        raw_insert(raw, "from.another.producer")
        queue.enqueue_many("b", [{}])
    assert raw.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_a_full_disk_refuses_the_new_events_and_keeps_the_queued_ones(store: Store, db_path: Path) -> None:
    with dispatcher.open(db_path) as queue:
        queue.enqueue_many("kept", [{"n": n} for n in range(10)])
        conn = queue.store.conn
        # SQLite's own limit, hit for real: the same SQLITE_FULL a full disk gives.
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="^database error: database or disk is full$"):
            queue.enqueue_many("lost", [{"pad": "x" * 1000} for _ in range(1000)])
        with pytest.raises(StoreError, match="^database error: database or disk is full$"):
            for _ in range(100):
                queue.enqueue("lost", {"pad": "x" * 1000})
        conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        queue.enqueue("after", {})
    with closing(sqlite3.connect(db_path)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        types = [row[0] for row in check.execute("SELECT type FROM events ORDER BY id")]
    assert types[:10] == ["kept"] * 10 and types[-1] == "after"
    assert set(types[10:-1]) <= {"lost"}  # single enqueues that fitted before the disk filled
