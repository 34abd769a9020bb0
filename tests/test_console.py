"""The console script's short way for `dispatcher enqueue`: the same answers as the click command,
without loading click; anything else is the click command's."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.store import open_store
from dispatcher.store.sqlite.connection import SCHEMA_VERSION

from .helpers import V5_SCHEMA, stored_events

CLICK_COMMAND = [sys.executable, "-c", "from dispatcher.cli import cli; cli(prog_name='dispatcher')"]


def _run(command: list[str], args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def subscribed(tmp_path: Path) -> Path:
    """A set-up database with one endpoint subscribed to lead.*."""
    path = tmp_path / "base.db"
    store = open_store(path)
    store.insert_endpoint({"url": "https://example.com/hook", "secret": "s", "events": ("lead.*",)})
    store.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["enqueue", "lead.created", '{"id": 1}'],
        ["enqueue", "lead.created"],
        ["enqueue", "invoice.paid", "[1, 2]"],  # kept, with the warning
        ["enqueue", "lead.created", "not json"],
        ["enqueue", "lead.created", '"a string"'],
        ["enqueue", "lead.created", "{} trailing"],
        ["enqueue", "", "{}"],
        ["enqueue", "lead.created", '{"a": NaN}'],
        ["enqueue", "lead.créé", '{"naïve": "ü"}'],
    ],
    ids=repr,
)
def test_the_short_way_answers_as_the_click_command(subscribed: Path, tmp_path: Path, args: list[str]) -> None:
    _assert_same_answers(subscribed, tmp_path, args, "--db")


@pytest.mark.parametrize("db_form", ["--db=", "env"])
def test_the_database_is_found_as_the_click_command_finds_it(subscribed: Path, tmp_path: Path, db_form: str) -> None:
    _assert_same_answers(subscribed, tmp_path, ["enqueue", "lead.created", "{}"], db_form)
    _assert_same_answers(subscribed, tmp_path, ["enqueue", "invoice.paid", "{}"], db_form)


def _assert_same_answers(subscribed: Path, tmp_path: Path, args: list[str], db_form: str) -> None:
    """The console script and the click command, each on a copy of ``subscribed``: the same output,
    exit status and stored events; and an event queued by the short way, a refusal by click."""
    answers, stored = [], []
    for name in ("short", "click"):
        path = tmp_path / f"{name}.db"
        shutil.copy(subscribed, path)
        argv, env = {
            "--db": (["--db", str(path), *args], {}),
            "--db=": ([f"--db={path}", *args], {}),
            "env": (args, {"DISPATCHER_DB": str(path)}),
        }[db_form]
        if name == "short":
            answer, loaded = _console(argv, tmp_path, env=env)
            assert ("click" in loaded) == (answer[0] != 0), "the short way queues; click refuses"
        else:
            answer = _run(CLICK_COMMAND, argv, env=env)
        answers.append(answer)
        stored.append(stored_events(path))
    assert answers[0] == answers[1]
    assert stored[0] == stored[1]


def _console(
    argv: list[str], cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[tuple[int, str, str], set[str]]:
    """The console script's main() on this command line: its exit status, stdout and stderr, and
    the modules it loaded (written to a file, to leave its output as it is)."""
    modules = cwd / "modules.json"
    program = (
        "import json, sys\n"
        f"sys.argv = ['dispatcher', *{argv!r}]\n"
        "from dispatcher.console import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        f"    open({str(modules)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return (done.returncode, done.stdout, done.stderr), set(json.loads(modules.read_text()))


def test_a_plain_enqueue_loads_neither_click_nor_the_store_class(subscribed: Path) -> None:
    (code, _, _), loaded = _console(["--db", str(subscribed), "enqueue", "lead.created", "{}"], subscribed.parent)
    assert code == 0
    assert "dispatcher.store.sqlite.enqueueing" in loaded
    assert not {"click", "typing", "dispatcher.store.sqlite.store", "dispatcher.models"} & loaded
    assert stored_events(subscribed)[-1][1:] == ("lead.created", "{}")


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["enqueue", "lead.created", "-"], "{}"),  # stdin: click reads it
        (["enqueue", "lead.created", "@payload.json"], ""),  # a file: likewise
        (["enqueue", "lead.created", "not json"], ""),  # a refusal: click words it
        (["status"], ""),
    ],
)
def test_anything_else_goes_to_the_click_command(subscribed: Path, argv: list[str], stdin: str) -> None:
    (subscribed.parent / "payload.json").write_text("{}")
    _, loaded = _console(["--db", str(subscribed), *argv], subscribed.parent, stdin)
    assert "click" in loaded


def test_a_missing_file_is_made_by_the_click_command(tmp_path: Path) -> None:
    (code, _, _), loaded = _console(["--db", "new.db", "enqueue", "lead.created", "{}"], tmp_path)
    assert (code, "click" in loaded) == (0, True)
    assert stored_events(tmp_path / "new.db") == [(1, "lead.created", "{}")]


def test_an_older_schema_is_upgraded_by_the_click_command(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "v5.db") as conn:
        conn.executescript(V5_SCHEMA.read_text())
    conn.close()
    (code, _, _), loaded = _console(["--db", "v5.db", "enqueue", "lead.created", "{}"], tmp_path)
    assert code == 0 and "click" in loaded
    assert open_store(tmp_path / "v5.db").schema_version() == SCHEMA_VERSION
    assert stored_events(tmp_path / "v5.db") == [(1, "lead.created", "{}")]


WEB_STACK = {"fastapi", "starlette", "uvicorn", "jinja2", "pydantic", "prometheus_client", "dispatcher.web"}


@pytest.mark.parametrize(
    "argv",
    [
        ["process", "--time-limit", "1s"],
        ["endpoint", "list"],
        ["status"],
    ],
)
def test_the_everyday_commands_do_not_load_the_web_stack(subscribed: Path, argv: list[str]) -> None:
    """`serve` alone pays for FastAPI and its kin: cron's `process` and producers' `enqueue` stay fast."""
    (code, out, err), loaded = _console(["--db", str(subscribed), *argv], subscribed.parent)
    assert code == 0, err
    assert not WEB_STACK & loaded
