"""GLOB on PostgreSQL answers as SQLite's does: glob_match against Python's sqlite3, pattern by
pattern and through an endpoint's list of patterns in the fan-out."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.store.postgres.schema import apply_schema, connect

from . import postgres
from .postgres import Conn, add_endpoint, insert_event, pending

PATTERNS = [
    "*", "", "lead.*", "lead.?", "*.created", "lead.created", "LEAD.*", "l*d", "a*b*c", "**", "*?", "?*?",
    "[a-c]", "[a-c]*", "[^x]", "[^x]*", "[!x]", "[!x]*", "[]]", "[]a]", "[^]]", "[]-a]", "[a-]", "[-a]",
    "[a-c-e]", "[c-a]", "[z-a]x", "[[]", "[\\]", "[abc", "[", "]", "[^", "*[a-c]", "*[^.]", "a[.]b",
    ".", "a.b", "a+b", "(a)", "a|b", "{1}", "a{2}", "$", "^a", "a$", "\\", "\\d", "\\.", "[\\d]", "[.]",
    "[[:alpha:]]", "[[.a.]]", "[=a=]", "é*", "[é-ü]", "?😀", "[😀]", "[^é]", "ÉTÉ", "\n", "[\n]", "a?c",
]  # fmt: skip
VALUES = [
    "", "a", "b", "c", "d", "x", "y", "z", "-", "]", "[", "^", "!", ".", "\\", "ab", "abc", "aXbYc", "a.b",
    "axb", "a+b", "aab", "(a)", "a|b", "{1}", "aa", "$", "^a", "a$", "d", "\\d", "lead.created", "lead.x",
    "LEAD.created", "lead.", "lead", "Lead.created", "é", "ü", "f", "ÉTÉ", "été", "x😀", "😀", "\n", "a\nc",
    ":", "=", "abc.x", "[a", "a]",
]  # fmt: skip


@pytest.fixture(scope="module")
def glob_pg(postgres_url: str) -> Iterator[Conn]:
    """A schema for this file's tests, kept for the module: hypothesis runs many examples in one test."""
    schema = postgres.new_schema_name()
    conn = connect(postgres_url, schema)
    apply_schema(conn, schema)
    yield conn
    conn.close()
    postgres.drop_schema(postgres_url, schema)


def sqlite_glob(pairs: list[tuple[str, str]]) -> list[bool]:
    with sqlite3.connect(":memory:") as conn:
        return [bool(conn.execute("SELECT ? GLOB ?", (value, pattern)).fetchone()[0]) for pattern, value in pairs]


def postgres_glob(conn: Conn, pairs: list[tuple[str, str]]) -> list[bool]:
    rows = conn.execute(
        "SELECT glob_match(p, v) FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t (p, v, n) ORDER BY n",
        ([pattern for pattern, _ in pairs], [value for _, value in pairs]),
    ).fetchall()
    conn.commit()
    return [row[0] for row in rows]


def mismatches(conn: Conn, pairs: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """The (pattern, value, SQLite's answer) that PostgreSQL answers otherwise."""
    answers = zip(pairs, sqlite_glob(pairs), postgres_glob(conn, pairs))
    return [(pattern, value, sqlite) for (pattern, value), sqlite, pg in answers if sqlite != pg]


def test_glob_match_answers_as_sqlite_on_every_pattern_and_value(glob_pg: Conn) -> None:
    pairs = list(itertools.product(PATTERNS, VALUES))
    assert sum(sqlite_glob(pairs)) > 300  # the table holds matches, not only misses
    assert mismatches(glob_pg, pairs) == []


# Characters that mean something to GLOB or to a regular expression, and a few that mean nothing.
GLOB_ALPHABET = "*?[]^!-\\.+()|{}$ abcAé😀\n:="


@st.composite
def pattern_and_value(draw: st.DrawFn) -> tuple[str, str]:
    pattern = draw(st.text(GLOB_ALPHABET, max_size=8))
    # A value built from the pattern matches often; one drawn at random rarely does.
    built = "".join(
        draw(st.text("abc-].", max_size=3)) if c == "*" else draw(st.sampled_from("abc]-^.")) if c in "?[" else c
        for c in pattern
    )
    return pattern, draw(st.one_of(st.just(built), st.text(GLOB_ALPHABET, max_size=6)))


@given(st.lists(pattern_and_value(), min_size=1, max_size=40))
def test_glob_match_answers_as_sqlite_on_drawn_patterns(glob_pg: Conn, pairs: list[tuple[str, str]]) -> None:
    assert mismatches(glob_pg, pairs) == []


ENDPOINT_PATTERNS = [
    ["*"],
    [],
    ["lead.*"],
    ["lead.*", "*.created"],
    ["invoice.?aid", "[abc"],
    ["[^l]*"],
    ["a.b", "a+b"],
    [1, None],
    [["lead.*"]],
]
EVENT_TYPES = ["lead.created", "lead.lost", "invoice.paid", "invoice.raid", "a.b", "axb", "a+b", "1", "x.created"]


def test_the_fan_out_matches_an_endpoints_patterns_as_sqlites_trigger(pg: Conn, app: Conn, pg_schema: str) -> None:
    endpoints = {add_endpoint(pg, json.dumps(patterns)): patterns for patterns in ENDPOINT_PATTERNS}
    events = {insert_event(app, pg_schema, type_, "{}"): type_ for type_ in EVENT_TYPES}
    app.commit()
    with sqlite3.connect(":memory:") as lite:
        expected = {
            (endpoint, event)
            for endpoint, patterns in endpoints.items()
            for event, type_ in events.items()
            if lite.execute(
                "SELECT EXISTS (SELECT 1 FROM json_each(?) AS pattern WHERE ? GLOB pattern.value)",
                (json.dumps(patterns), type_),
            ).fetchone()[0]
        }
    assert len(expected) > len(events)
    assert pending(pg) == expected


def test_an_endpoints_patterns_must_be_a_json_array(pg: Conn) -> None:
    for events in ('{"a": 1}', '"*"', "*"):
        with pytest.raises((psycopg.errors.CheckViolation, psycopg.errors.InvalidTextRepresentation)):
            add_endpoint(pg, events)
        pg.rollback()
