"""`dispatcher api-key create|list|revoke`: a key is printed once and only its hash is kept."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from dispatcher.store import Location, open_store

from .helpers import Invoke, as_json, assert_one_line_error, ok, table_rows


@pytest.fixture
def invoke(invoke_anywhere: Invoke) -> Invoke:
    """Every test here runs on each backend: SQLite, then PostgreSQL."""
    return invoke_anywhere


def test_create_prints_the_key_once_with_its_id(invoke: Invoke) -> None:
    result = invoke("api-key", "create", "--name", "ci")
    stdout = ok(result)
    assert re.fullmatch(r"id: 1\nkey: dsp_[A-Za-z0-9_-]{43}\n", stdout), stdout
    assert "never shown again" in result.stderr


def test_create_json_has_exactly_the_documented_fields(invoke: Invoke) -> None:
    made = as_json(invoke("api-key", "create", "--name", "grafana", "--read-only", "--json"))
    assert set(made) == {"id", "name", "key", "read_only", "created_at"}
    assert (made["name"], made["read_only"]) == ("grafana", True)
    assert made["key"].startswith("dsp_") and made["created_at"].endswith("Z")


def test_list_shows_every_key_but_never_the_key_itself(invoke: Invoke) -> None:
    first = as_json(invoke("api-key", "create", "--name", "admin", "--json"))
    second = as_json(invoke("api-key", "create", "--read-only", "--json"))
    listed = as_json(invoke("api-key", "list", "--json"))
    assert [(key["id"], key["name"], key["read_only"]) for key in listed] == [(1, "admin", False), (2, None, True)]
    table = ok(invoke("api-key", "list"))
    for shown in (str(listed), table):
        assert first["key"] not in shown and second["key"] not in shown
        assert "dsp_" not in shown
    assert "admin" in table


def test_list_with_no_keys_says_how_to_make_one(invoke: Invoke) -> None:
    ok(invoke("init"))
    assert "dispatcher api-key create" in ok(invoke("api-key", "list"))


def test_revoke_deletes_the_key_and_an_unknown_id_is_a_one_line_error(invoke: Invoke) -> None:
    as_json(invoke("api-key", "create", "--json"))
    assert ok(invoke("api-key", "revoke", "1")) == "API key 1 revoked\n"
    assert as_json(invoke("api-key", "list", "--json")) == []
    assert "no API key 1" in assert_one_line_error(invoke("api-key", "revoke", "1"))


def test_the_database_keeps_only_a_hash_of_the_key(invoke: Invoke, location: Location) -> None:
    key = as_json(invoke("api-key", "create", "--name", "ci", "--json"))["key"]
    store = open_store(location)
    try:
        rows = table_rows(store, "SELECT * FROM api_keys")
    finally:
        store.close()
    stored = " ".join(str(value) for row in rows for value in row)
    assert key not in stored and key.removeprefix("dsp_") not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    if location.backend == "sqlite":  # nor anywhere else in the file
        assert key.encode() not in Path(location.target).read_bytes()
