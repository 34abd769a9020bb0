"""Every command, with any options and arguments: it does its job, or refuses with one line on
stderr and a non-zero exit. No exception ever reaches the user as a traceback.

The values are what people mistype (huge and negative numbers, durations beyond a lifetime,
URLs with odd ports, brackets and hosts, half headers) and anything at all. A refused
`endpoint add` or `endpoint update` leaves the database as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.cli import cli

from .factories import ODD_URLS
from .helpers import assert_one_line_error, ok, outcome

# These serve, send or wait on the network by design; test_cli and tests/web cover their options.
NOT_FUZZED = {("listen",), ("serve",), ("process",), ("demo",), ("endpoint", "test")}

TYPED = [
    "", "0", "-1", "1", "9" * 25, "-" + "9" * 25, "1e999", "nan", "1.5", "5s", "0s", "36500d", "99999999999d",
    "2026-11-22T10:00:00Z", "0001-01-01", "9999-12-31T23:59:59+14:00", "http://192.0.2.1/", "https://[::1]:99999/",
    "http://user:pw@127.0.0.1/x", "ftp://x", "{}", "[]", '{"a":1}', "null", "X-A: b", ":b", "Name: v\r\nX: y",
    "lead.*", "fixed:5m", "exponential:1s:100:1s", "schedule:", "standard", "whsec_AAAA", "true", "asc", "200",
    "/nonexistent/file", "/etc/hostname", "@/nonexistent", "-", "failed", "raw", "mautic", "retry", "\x00", "é",
]  # fmt: skip
VALUES = st.one_of(st.sampled_from(TYPED), ODD_URLS, st.text(max_size=16))


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # not group.commands: the root group loads its commands lazily
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
            if command.invoke_without_command:  # a command of its own too: `attempts` lists
                yield (*prefix, name), command
        elif (*prefix, name) not in NOT_FUZZED:
            yield (*prefix, name), command


COMMANDS = sorted(_commands(cli), key=lambda item: item[0])


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    args = list(path)
    for param in command.params:
        if not draw(st.booleans()):
            continue
        if isinstance(param, click.Argument):
            args.append(draw(VALUES))
        elif isinstance(param, click.Option) and param.is_flag:
            args.append(draw(st.sampled_from([*param.opts, *param.secondary_opts])))
        else:
            args += [param.opts[0], draw(VALUES)]
    return args


@pytest.fixture(scope="module")
def stocked_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with an endpoint and a queued event, made once and copied for each example."""
    path = tmp_path_factory.mktemp("stocked") / "queue.db"
    runner = CliRunner()
    ok(runner.invoke(cli, ["--db", str(path), "endpoint", "add", "http://127.0.0.1:9/hook", "--allow-private"]))
    ok(runner.invoke(cli, ["--db", str(path), "enqueue", "lead.created", '{"name": "Ada"}']))
    return path


def contents(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.iterdump())


@given(invocations(), VALUES)
def test_any_command_line_does_its_job_or_fails_in_one_line(
    stocked_database: Path, args: list[str], stdin: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "queue.db"
        shutil.copyfile(stocked_database, db)
        result = CliRunner().invoke(cli, ["--db", str(db), *args], input=stdin)
        code, _, _ = outcome(result)  # fails the test if an exception escaped
        if code != 0:
            assert_one_line_error(result, exit_code=None)
            if args[:2] in (["endpoint", "add"], ["endpoint", "update"]):
                assert contents(db) == contents(stocked_database)


@given(st.sampled_from([("endpoint", "add"), ("endpoint", "update", "1", "--url")]), ODD_URLS)
def test_any_url_is_kept_as_given_or_refused_in_one_line_with_nothing_saved(
    stocked_database: Path, command: tuple[str, ...], url: str
) -> None:
    """Its hosts are IP addresses or names under .invalid: the reach check of an accepted URL asks no DNS."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "queue.db"
        shutil.copyfile(stocked_database, db)
        runner = CliRunner()
        result = runner.invoke(cli, ["--db", str(db), *command, url, "--json"])
        code, stdout, _ = outcome(result)
        if code == 0:
            endpoint_id = str(json.loads(stdout)["id"])
            shown = runner.invoke(cli, ["--db", str(db), "endpoint", "show", endpoint_id, "--json", "--show-secret"])
            assert json.loads(ok(shown))["url"] == url
        else:
            assert_one_line_error(result)
            assert contents(db) == contents(stocked_database)
