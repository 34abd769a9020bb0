"""dispatcher.store.location: what --db and DISPATCHER_DB take, read the way a user means it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.errors import DispatcherError
from dispatcher.store import Location, parse_location


@pytest.mark.parametrize(
    ("text", "backend", "target"),
    [
        ("dispatcher.db", "sqlite", "dispatcher.db"),
        ("/var/lib/app/queue.db", "sqlite", "/var/lib/app/queue.db"),
        ("sqlite:///queue.db", "sqlite", "queue.db"),
        ("sqlite:///data/queue.db", "sqlite", "data/queue.db"),
        ("sqlite:////var/lib/app/queue.db", "sqlite", "/var/lib/app/queue.db"),
        ("SQLite:///queue.db", "sqlite", "queue.db"),
        ("postgresql://app@db.internal/crm", "postgresql", "postgresql://app@db.internal/crm"),
        ("postgres://app@db.internal:6432/crm", "postgresql", "postgres://app@db.internal:6432/crm"),
        ("postgresql:///crm?host=/run/postgresql", "postgresql", "postgresql:///crm?host=/run/postgresql"),
        (
            "postgresql:///crm?host=/run/postgresql&schema=hooks",
            "postgresql",
            "postgresql:///crm?host=%2Frun%2Fpostgresql",
        ),
    ],
)
def test_the_forms_a_database_is_given_in(text: str, backend: str, target: str) -> None:
    location = parse_location(text)
    assert (location.backend, location.target) == (backend, target)


def test_a_path_object_is_a_sqlite_file(tmp_path: Path) -> None:
    assert parse_location(tmp_path / "q.db") == Location("sqlite", str(tmp_path / "q.db"))


def test_the_postgresql_schema_is_dispatcher_unless_the_url_or_the_option_says_otherwise() -> None:
    assert parse_location("postgresql://h/crm").pg_schema == "dispatcher"
    from_url = parse_location("postgresql://h/crm?schema=webhooks&sslmode=require")
    assert (from_url.pg_schema, from_url.target) == ("webhooks", "postgresql://h/crm?sslmode=require")
    assert parse_location("postgresql://h/crm?schema=webhooks", pg_schema="other").pg_schema == "other"


def test_a_password_is_not_shown() -> None:
    location = parse_location("postgresql://app:s3cret@db.internal/crm")
    assert str(location) == "postgresql://app:***@db.internal/crm"
    assert "s3cret" in location.target  # but the driver gets it


@pytest.mark.parametrize(
    "text",
    [
        "dispatcher.db",
        "postgresql://app@db.internal/crm",
        "postgresql://app@db.internal/crm?schema=hooks",
        "postgresql:///crm?host=/run/postgresql&schema=hooks",
        "postgresql://app@db.internal/crm?sslmode=require&schema=hooks",
    ],
)
def test_what_is_shown_is_a_db_option_for_the_same_place(text: str) -> None:
    """What a page or a message shows as `dispatcher --db ...` names the same database and schema."""
    location = parse_location(text)
    assert parse_location(str(location)) == location


def test_a_shown_url_keeps_its_schema_and_hides_its_password() -> None:
    shown = str(parse_location("postgresql://app:s3cret@db.internal/crm?schema=hooks"))
    assert shown == "postgresql://app:***@db.internal/crm?schema=hooks"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "the database is empty"),
        (":memory:", "':memory:' is not a file's path"),
        ("file:typo.db?mode=memory", "is not a file's path"),
        ("sqlite://queue.db", "sqlite:///relative/path or sqlite:////absolute/path"),
        ("sqlite:///:memory:", "':memory:' is not a file's path"),
        ("mysql://root@localhost/crm", "unknown kind of database 'mysql'"),
        ("postgresql://h/crm?schema=drop table", "invalid PostgreSQL schema name"),
        ("postgresql://h/crm?schema=Hooks", "invalid PostgreSQL schema name"),
        ("postgresql://h/crm?schema=pg_hooks", "invalid PostgreSQL schema name"),
        ("postgresql://h/crm?schema=" + "s" * 57, "invalid PostgreSQL schema name"),
    ],
)
def test_what_is_refused_says_why_in_one_line(text: str, said: str) -> None:
    with pytest.raises(DispatcherError, match=said) as refused:
        parse_location(text)
    assert "\n" not in str(refused.value)
