"""The PostgreSQL fan-out on a real server: multi-row inserts and COPY queue in one statement and wake
the delivery runs with one notification; staged rows wait until their token is queued."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from dispatcher.store.postgres.schema import channel

from .postgres import Conn, add_endpoint, event_ids, insert_event, pending

MARKER = "end of test"


@pytest.fixture
def count_notifications(postgres_url: str, pg_schema: str) -> Iterator[Callable[[Callable[[], object]], int]]:
    """How many notifications on the schema's channel a delivery run LISTENing would get while ``action`` runs.

    Counted up to a marker notified after it: notifications reach a listener in the order their
    transactions committed, so nothing is waited for by the clock.
    """
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(pg_schema))))

        def count(action: Callable[[], object]) -> int:
            action()
            with psycopg.connect(postgres_url, autocommit=True) as marker:
                marker.execute("SELECT pg_notify(%s, %s)", (channel(pg_schema), MARKER))
            wakes = 0
            for notice in listener.notifies(timeout=60):
                if notice.payload == MARKER:
                    return wakes
                wakes += 1
            pytest.fail("the marker notification never came")

        yield count


def test_a_multi_row_insert_fans_out_and_notifies_once(
    pg: Conn, app: Conn, pg_schema: str, count_notifications: Callable[[Callable[[], object]], int]
) -> None:
    leads = add_endpoint(pg, '["lead.*"]')
    everything = add_endpoint(pg)

    def insert() -> None:
        app.execute(
            sql.SQL(
                "INSERT INTO {}.events (type, payload) VALUES ('lead.created', '{{}}'), ('lead.lost', '[]'), "
                "('invoice.paid', '{{}}')"
            ).format(sql.Identifier(pg_schema))
        )
        app.commit()

    assert count_notifications(insert) == 1
    lead, lost, invoice = event_ids(pg)
    assert pending(pg) == {(leads, lead), (leads, lost), (everything, lead), (everything, lost), (everything, invoice)}


def test_a_copy_fans_out_and_notifies_once(
    pg: Conn, app: Conn, pg_schema: str, count_notifications: Callable[[Callable[[], object]], int]
) -> None:
    leads = add_endpoint(pg, '["lead.*"]')
    payloads = ['{"id": 1}', " [ 2 ] ", '{"a":1,"a":2}']

    def copy() -> None:
        statement = sql.SQL("COPY {}.events (type, payload) FROM STDIN").format(sql.Identifier(pg_schema))
        with app.cursor().copy(statement) as rows:
            for payload in payloads:
                rows.write_row(("lead.created", payload))
            rows.write_row(("invoice.paid", "{}"))
        app.commit()

    assert count_notifications(copy) == 1
    ids = event_ids(pg)
    assert pending(pg) == {(leads, event) for event in ids[:3]}
    assert [row[0] for row in pg.execute("SELECT payload FROM events ORDER BY id")][:3] == payloads


def test_each_committed_statement_notifies_and_one_queueing_nothing_does_not(
    pg: Conn, app: Conn, pg_schema: str, count_notifications: Callable[[Callable[[], object]], int]
) -> None:
    add_endpoint(pg, '["lead.*"]')

    def two_transactions() -> None:
        for _ in range(2):
            insert_event(app, pg_schema, "lead.created", "{}")
            app.commit()

    def unsubscribed() -> None:
        insert_event(app, pg_schema, "invoice.paid", "{}")
        app.commit()

    def rolled_back() -> None:
        insert_event(app, pg_schema, "lead.created", "{}")
        app.rollback()

    assert count_notifications(two_transactions) == 2
    assert count_notifications(unsubscribed) == 0
    assert count_notifications(rolled_back) == 0


def test_staged_rows_wait_for_their_token(
    pg: Conn, app: Conn, pg_schema: str, count_notifications: Callable[[Callable[[], object]], int]
) -> None:
    leads = add_endpoint(pg, '["lead.*"]')
    everything = add_endpoint(pg)

    def stage() -> None:
        app.execute("SET LOCAL dispatcher.staging = 'import-7'")
        for number in range(3):
            insert_event(app, pg_schema, "lead.created", f'{{"n": {number}}}')
        app.commit()

    assert count_notifications(stage) == 0
    staged = event_ids(pg)
    assert pending(pg) == set()

    # The setting was the transaction's own: the application's next insert fans out as usual.
    def insert() -> None:
        insert_event(app, pg_schema, "invoice.paid", "{}")
        app.commit()

    assert count_notifications(insert) == 1
    unstaged = event_ids(pg)[-1]
    assert pending(pg) == {(everything, unstaged)}

    def queue() -> None:
        queued = pg.execute("SELECT queue_staged('import-7')").fetchone()
        pg.commit()
        assert queued == (6,)

    assert count_notifications(queue) == 1
    assert pending(pg) == {(everything, unstaged)} | {(endpoint, e) for endpoint in (leads, everything) for e in staged}
    assert pg.execute("SELECT count(*) FROM events WHERE staged_as IS NOT NULL").fetchone() == (0,)
    assert pg.execute("SELECT queue_staged('import-7')").fetchone() == (0,)


def test_staged_rows_are_found_by_their_token(pg: Conn, app: Conn, pg_schema: str) -> None:
    for token in ("a", "b", ""):
        app.execute("SELECT set_config('dispatcher.staging', %s, true)", (token,))
        insert_event(app, pg_schema, "t", "{}")
        app.commit()
    staged = pg.execute("SELECT id, staged_as FROM events ORDER BY id").fetchall()
    assert [token for _, token in staged] == ["a", "b", None]
