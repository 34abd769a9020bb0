"""The root command's promises: --db names a file, a failed command leaves no new file behind, Ctrl-C is 130."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.producer import Queue

from .helpers import Invoke, assert_one_line_error, ok


@pytest.mark.parametrize(
    ("db", "said"),
    [
        ("", "is empty"),
        (" ", "is empty"),
        (":memory:", "':memory:' is not a file's path"),
        ("file:typo.db", "'file:typo.db' is not a file's path"),
    ],
)
def test_db_must_name_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str, said: str) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (("process", "--quiet"), ("enqueue", "a")):
        message = assert_one_line_error(CliRunner().invoke(cli, ["--db", db, *command]))
        assert said in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ("enqueue", "lead.created", "@/nowhere/payload.json"),
        ("enqueue", "lead.created", "not json"),
        ("config", "set", "no_such_setting", "1"),
        ("config", "set", "timeout", "forever"),
        ("endpoint", "add", "ftp://example.com/"),
        ("endpoint", "add", "http://example.com:99999/"),
        ("endpoint", "add", "https://example.com/", "--batch-size", "0"),
    ],
    ids=" ".join,
)
def test_a_command_that_fails_leaves_no_new_database(invoke: Invoke, db_path: Path, command: tuple[str, ...]) -> None:
    assert_one_line_error(invoke(*command))
    assert list(db_path.parent.iterdir()) == []
    # So the mistyped path is still refused by what cron runs next.
    assert "no database at" in assert_one_line_error(invoke("process", "--quiet"))


def test_a_command_that_fails_keeps_a_database_that_was_there(invoke: Invoke, db_path: Path) -> None:
    ok(invoke("enqueue", "lead.created", "{}"))
    assert_one_line_error(invoke("endpoint", "add", "ftp://example.com/"))
    assert db_path.exists()
    assert ok(invoke("status", "--json"))  # still a working database


def test_ctrl_c_during_a_command_exits_130(invoke: Invoke, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok(invoke("init"))

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt  # as Python raises it when Ctrl-C comes

    monkeypatch.setattr(Queue, "put", interrupted)
    result = invoke("enqueue", "lead.created", "{}")
    # click ends the terminal's "^C" line first, hence the blank line before the one error line.
    assert (result.exit_code, result.stderr) == (130, "\nError: interrupted\n")


def test_db_takes_a_sqlite_url_as_well_as_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    (tmp_path / "data").mkdir()
    assert "database ready: data/queue.db" in ok(runner.invoke(cli, ["--db", "sqlite:///data/queue.db", "init"]))
    monkeypatch.setenv("DISPATCHER_DB", f"sqlite:///{tmp_path}/data/queue.db")  # four slashes: an absolute path
    ok(runner.invoke(cli, ["endpoint", "add", "https://example.com/hook", "--name", "crm"]))
    monkeypatch.delenv("DISPATCHER_DB")
    assert "crm" in ok(runner.invoke(cli, ["--db", "data/queue.db", "endpoint", "list"]))


@pytest.mark.parametrize(
    ("db", "said"),
    [
        ("mysql://root@localhost/crm", "unknown kind of database 'mysql'"),
        ("sqlite://queue.db", "sqlite:///relative/path"),
    ],
)
def test_a_database_url_of_another_kind_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str, said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--db", db, "status"])
    assert said in assert_one_line_error(result)
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_pg_schema_names_a_postgresql_schema_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    refused = CliRunner().invoke(cli, ["--db", "queue.db", "--pg-schema", "hooks", "status"])
    assert "--pg-schema" in assert_one_line_error(refused) and "postgresql://" in refused.output
    bad = CliRunner().invoke(cli, ["--db", "postgresql://127.0.0.1:1/x", "--pg-schema", "Hooks", "status"])
    assert "invalid PostgreSQL schema name 'Hooks'" in assert_one_line_error(bad)
    assert list(tmp_path.iterdir()) == []
