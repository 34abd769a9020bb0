"""The PostgreSQL schema on a real server: created in a namespace of its own, the producer contract
from plain clients, the fan-out and its notification, the staging token, and GLOB as SQLite has it."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from dispatcher.errors import DispatcherError
from dispatcher.store.postgres.schema import OUR_TABLES, SCHEMA_VERSION, apply_schema, connect

from . import postgres
from .helpers import free_port
from .postgres import Conn, add_endpoint, event_ids, insert_event, pending

SCHEMA_SQL = Path(__file__).parent.parent / "dispatcher" / "store" / "postgres" / "schema.sql"
MiB = 1024 * 1024


def relations(conn: Conn, schema: str) -> set[tuple[int, str]]:
    """Every table, index, sequence and function in ``schema``, by oid: what a second apply must leave as is."""
    rows = conn.execute(
        "SELECT c.oid::int, c.relname::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s UNION ALL SELECT p.oid::int, p.proname::text FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = %s",
        (schema, schema),
    ).fetchall()
    conn.commit()
    return set(rows)


def tables(conn: Conn, schema: str) -> set[str]:
    names = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
    conn.commit()
    return names


# --- creating and upgrading -------------------------------------------------------------------


def test_the_schema_is_created_in_a_namespace_of_its_own(postgres_url: str, pg_schema: str) -> None:
    with psycopg.connect(postgres_url) as other:
        public_before = tables(other, "public")
        conn = connect(postgres_url, pg_schema)
        apply_schema(conn, pg_schema)
        assert tables(other, pg_schema) == {*OUR_TABLES, "dispatcher_schema"}
        assert tables(other, "public") == public_before
    assert conn.execute("SELECT version FROM dispatcher_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("SHOW search_path").fetchone() == (pg_schema,)
    conn.close()


def test_applying_it_again_changes_nothing(postgres_url: str, pg_schema: str, pg: Conn) -> None:
    endpoint = add_endpoint(pg)
    before = relations(pg, pg_schema)
    apply_schema(pg, pg_schema)
    with connect(postgres_url, pg_schema) as another_host:
        apply_schema(another_host, pg_schema)
    assert relations(pg, pg_schema) == before
    assert pg.execute("SELECT version FROM dispatcher_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert pg.execute("SELECT id FROM endpoints").fetchall() == [(endpoint,)]


def test_hosts_starting_at_once_set_it_up_once(postgres_url: str, pg_schema: str) -> None:
    hosts = 3
    start = threading.Barrier(hosts)
    failures: list[BaseException] = []

    def host() -> None:
        try:
            with connect(postgres_url, pg_schema) as conn:
                start.wait()
                apply_schema(conn, pg_schema)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=host) for _ in range(hosts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with connect(postgres_url, pg_schema) as conn:
        assert conn.execute("SELECT version FROM dispatcher_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT events_checked_through FROM dispatcher_prune").fetchall() == [(0,)]


def test_a_schema_holding_tables_of_ours_names_it_did_not_create_is_refused(postgres_url: str, pg_schema: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        owner.execute(sql.SQL("CREATE TABLE {}.events (name text)").format(sql.Identifier(pg_schema)))
        owner.execute(sql.SQL("CREATE TABLE {}.pending (name text)").format(sql.Identifier(pg_schema)))
        with connect(postgres_url, pg_schema) as conn, pytest.raises(DispatcherError) as refused:
            apply_schema(conn, pg_schema)
        assert str(refused.value) == (
            f"the PostgreSQL schema {pg_schema} already has tables named events, pending that the dispatcher did not "
            "create; give the dispatcher a schema of its own"
        )
        assert tables(owner, pg_schema) == {"events", "pending"}


def test_a_server_that_cannot_be_reached_is_one_line_without_the_password() -> None:
    port = free_port()
    with pytest.raises(DispatcherError) as refused:
        connect(f"postgresql://postgres:hunter2@127.0.0.1:{port}/queue")
    message = str(refused.value)
    assert message.startswith(f"cannot connect to PostgreSQL at 127.0.0.1:{port}/queue: ")
    assert "\n" not in message and "hunter2" not in message
    assert refused.value.exit_code == 1


@pytest.mark.parametrize("url", ["postgresql://[::1", "not a url", "postgresql://h/db?sslmode"])
def test_a_url_that_cannot_be_read_is_bad_input(url: str) -> None:
    with pytest.raises(DispatcherError, match=r"^invalid PostgreSQL URL: [^\n]+$") as refused:
        connect(url)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("schema", ["Dispatcher", "pg_queue", "1queue", "queue-1", "q" * 57, ""])
def test_a_schema_name_producers_could_not_write_unquoted_is_refused(postgres_url: str, schema: str) -> None:
    with pytest.raises(DispatcherError, match="invalid PostgreSQL schema name"):
        connect(postgres_url, schema)


# --- the producer contract --------------------------------------------------------------------


def test_an_insert_fans_out_in_the_producers_own_transaction(pg: Conn, app: Conn, pg_schema: str) -> None:
    leads = add_endpoint(pg, '["lead.*"]')
    add_endpoint(pg, '["invoice.*"]')
    everything = add_endpoint(pg)
    add_endpoint(pg, "[]")

    event = insert_event(app, pg_schema, "lead.created", '{"id": 1}')
    queued = app.execute(sql.SQL("SELECT endpoint_id, event_id FROM {}.pending").format(sql.Identifier(pg_schema)))
    assert set(queued) == {(leads, event), (everything, event)}
    app.rollback()
    assert event_ids(pg) == [] and pending(pg) == set()

    event = insert_event(app, pg_schema, "lead.created", '{"id": 1}')
    app.commit()
    assert event_ids(pg) == [event]
    assert pending(pg) == {(leads, event), (everything, event)}


def test_the_documented_statement_works_from_psql(postgres_url: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    statement = re.search(r"^--\s+(INSERT INTO dispatcher\.events .*;)$", SCHEMA_SQL.read_text(), re.M)
    assert statement is not None, "schema.sql no longer documents the producer statement"
    # The documented schema name, so a database of the test's own: others share the server.
    database = postgres.new_schema_name()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        try:
            url = make_conninfo(postgres_url, dbname=database)
            with connect(url, "dispatcher") as pg:
                apply_schema(pg)
                endpoint = add_endpoint(pg, '["lead.*"]')
                done = subprocess.run(
                    [psql, url, "-v", "ON_ERROR_STOP=1", "-c", statement[1]], capture_output=True, text=True
                )
                assert done.returncode == 0, done.stderr
                assert pg.execute("SELECT type, payload FROM events").fetchall() == [("lead.created", '{"id": 1}')]
                assert pending(pg) == {(endpoint, event_ids(pg)[0])}
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))


PAYLOADS = [
    '{"id": 1}',
    '  {"b" :1,\t"a":[ 1 , 2 ]}\n',
    '{"a": 1, "a": 2}',
    '{"z": 1, "y": 2, "x": 3}',
    '{"s": "\\u00e9\\ud83d\\ude00 \\"q\\" \\/"}',
    '{"s": "é 😀 \u2028"}',
    "[1.0, 1e400, -0, 1E+2, 12345678901234567890123456789]",
    '{"nul": "\\u0000"}',
    "[]",
    "{}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_is_kept_byte_for_byte(pg: Conn, app: Conn, pg_schema: str, payload: str) -> None:
    event = insert_event(app, pg_schema, "lead.created", payload)
    app.commit()
    stored = pg.execute("SELECT payload, octet_length(payload) FROM events WHERE id = %s", (event,)).fetchone()
    assert stored == (payload, len(payload.encode()))


@pytest.mark.parametrize(
    ("type_", "payload", "refusal"),
    [
        ("lead.created", "1", errors.CheckViolation),
        ("lead.created", '"text"', errors.CheckViolation),
        ("lead.created", "null", errors.CheckViolation),
        ("lead.created", "true", errors.CheckViolation),
        ("lead.created", "{", errors.InvalidTextRepresentation),
        ("lead.created", '{"a": NaN}', errors.InvalidTextRepresentation),
        ("lead.created", "", errors.InvalidTextRepresentation),
        ("lead.created", '{"a": 1} {"b": 2}', errors.InvalidTextRepresentation),
        ("", "{}", errors.CheckViolation),
        ("lead.created", None, errors.NotNullViolation),
        (None, "{}", errors.NotNullViolation),
    ],
)
def test_a_row_breaking_the_payload_rule_is_refused(
    pg: Conn, app: Conn, pg_schema: str, type_: str, payload: str, refusal: type[psycopg.Error]
) -> None:
    add_endpoint(pg)
    with pytest.raises(refusal):
        insert_event(app, pg_schema, type_, payload)
    app.rollback()
    assert event_ids(pg) == [] and pending(pg) == set()


def payload_of(size: int, fill: str = "x") -> str:
    """A JSON array of one string, ``size`` bytes in UTF-8 (``fill`` one or two bytes)."""
    width = len(fill.encode())
    count, rest = divmod(size - 4, width)
    text = f'["{fill * count}{"x" * rest}"]'
    assert len(text.encode()) == size
    return text


def test_a_payload_of_1_mib_is_taken_and_one_byte_more_refused(pg: Conn, app: Conn, pg_schema: str) -> None:
    for fill in ("x", "é"):
        insert_event(app, pg_schema, "big", payload_of(MiB, fill))
        app.commit()
        with pytest.raises(errors.CheckViolation) as refused:
            insert_event(app, pg_schema, "big", payload_of(MiB + 1, fill))
        assert refused.value.diag.constraint_name == "events_payload_bytes"
        app.rollback()
    assert pg.execute("SELECT octet_length(payload) FROM events").fetchall() == [(MiB,), (MiB,)]


def test_event_ids_are_never_handed_out_again(pg: Conn, app: Conn, pg_schema: str) -> None:
    first = [insert_event(app, pg_schema, "t", "{}") for _ in range(3)]
    app.commit()
    pg.execute("DELETE FROM events")
    pg.commit()
    assert insert_event(app, pg_schema, "t", "{}") > max(first)
    with pytest.raises(errors.GeneratedAlways):
        app.execute(
            sql.SQL("INSERT INTO {}.events (id, type, payload) VALUES (1, 't', '{{}}')").format(
                sql.Identifier(pg_schema)
            )
        )


def test_an_endpoint_deleted_while_a_producer_inserts_does_not_fail_the_insert(
    pg: Conn, postgres_url: str, pg_schema: str
) -> None:
    doomed = add_endpoint(pg, '["lead.*"]')
    kept = add_endpoint(pg)
    pg.execute("DELETE FROM endpoints WHERE id = %s", (doomed,))  # not committed yet: the row stays locked
    outcome: list[BaseException | int] = []

    def produce(conn: Conn) -> None:
        try:
            outcome.append(insert_event(conn, pg_schema, "lead.created", "{}"))
            conn.commit()
        except BaseException as error:
            outcome.append(error)

    with psycopg.connect(postgres_url) as producer:
        thread = threading.Thread(target=produce, args=(producer,))
        thread.start()
        wait_until_waiting_for_a_lock(postgres_url, producer.info.backend_pid)
        pg.commit()
        thread.join()
    [event] = outcome
    assert isinstance(event, int), event
    assert pending(pg) == {(kept, event)}


def wait_until_waiting_for_a_lock(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as observer:
        for _ in range(3000):
            waiting = observer.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
            if waiting.fetchone() == ("Lock",):
                return
            time.sleep(0.01)
    pytest.fail(f"backend {pid} never waited for the lock")
