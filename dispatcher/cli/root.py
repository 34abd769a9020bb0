"""The root command: the --db option, one-line errors and exit codes, and output helpers."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..clock import SystemClock
from ..durations import parse_duration
from ..errors import DispatcherError
from ..recovery import parse_time
from ..store import Store
from .lazy import LazyGroup


class _Cli(LazyGroup):
    """Turns every error into one line on stderr and a meaningful exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx else error.format_message())
            result = 0
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(f"{error.format_message()}{hint}", error.exit_code)
        except click.ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        except DispatcherError as error:
            _fail(str(error), error.exit_code)
        except sqlite3.Error as error:
            _fail(f"database error: {error}", 1)
        except OSError as error:
            _fail(str(error), 1)
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class _Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except DispatcherError as error:
            self.fail(str(error), param, ctx)


DURATION = _Duration()


class _Time(click.ParamType):  # type: ignore[type-arg]
    """ISO 8601, or a duration meaning that long ago; converted to stored time text."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_time(str(value), SystemClock().now())
        except DispatcherError as error:
            self.fail(str(error), param, ctx)


TIME = _Time()

# Ids and limits: SQLite integers are 64-bit, and a larger number would fail in the driver, not as a usage error.
POSITIVE_INTEGER = click.IntRange(1, 2**63 - 1)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def open_store(ctx: click.Context) -> Store:
    store = Store.open(ctx.obj)
    ctx.call_on_close(store.close)
    return store


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


# Where each command lives; its module is imported only when it runs.
COMMANDS = {
    "init": ".commands:init",
    "endpoint": ".endpoint:endpoint",
    "enqueue": ".enqueue:enqueue",
    "import": ".importing:import_",
    "process": ".commands:process",
    "status": ".commands:status",
    "attempts": ".commands:attempts",
    "dead": ".recovery:dead",
    "replay": ".recovery:replay",
    "prune": ".recovery:prune",
    "config": ".config:config",
    "demo": ".commands:demo",
    "verify": ".receiving:verify",
    "listen": ".receiving:listen",
}


@click.group(cls=_Cli, lazy_commands=COMMANDS)
@click.option(
    "--db",
    envvar="DISPATCHER_DB",
    default="dispatcher.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite file holding the queue (env DISPATCHER_DB).",
)
@click.version_option(__version__, prog_name="dispatcher")
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """Queued, batched, signed webhooks from one SQLite file."""
    ctx.obj = db
