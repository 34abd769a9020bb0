"""The root command: the --db option, one-line errors and exit codes, and output helpers."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from .. import __version__
from ..clock import SystemClock, to_text
from ..durations import parse_duration
from ..errors import DispatcherError
from ..store import Location, Store, discard_new, parse_location
from ..store import open_store as open_store_at
from ..store.location import check_schema_name
from .lazy import LazyGroup


class _Cli(LazyGroup):
    """Turns every error into one line on stderr and a meaningful exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Database files this command created: a command that fails leaves no file behind, so a
        # mistyped --db is never turned into an empty queue (see open_store).
        self.created: list[Location] = []
        try:
            self._main(*args, **kwargs)
        except SystemExit as done:
            if done.code not in (0, None):
                for location in self.created:
                    discard_new(location)
            raise

    def _main(self, *args: Any, **kwargs: Any) -> None:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx else error.format_message())
            result = 0
        except click.NoSuchOption as error:
            if error.option_name == "--db" and error.ctx and error.ctx.parent:
                command = error.ctx.command_path.partition(" ")[2]
                value = _value_of("--db", kwargs.get("args", args[0] if args else sys.argv[1:]))
                _fail(f"--db goes before the command: dispatcher --db {shlex.quote(value)} {command}", error.exit_code)
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(f"{error.format_message()}{hint}", error.exit_code)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(f"{error.format_message()}{hint}", error.exit_code)
        except click.ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except click.Abort as error:
            if isinstance(error.__cause__, KeyboardInterrupt):  # Ctrl-C, as click reports it
                _fail("interrupted", 130)
            _fail("aborted", 1)
        except DispatcherError as error:
            _fail(str(error), error.exit_code)
        except OSError as error:
            _fail(str(error), 1)
        sys.exit(result if isinstance(result, int) else 0)


def _value_of(option: str, args: Sequence[str]) -> str:
    """What follows the last ``option`` on the command line (``--db x`` or ``--db=x``); PATH if nothing does."""
    for i in reversed(range(len(args))):
        if args[i] == option and i + 1 < len(args):
            return args[i + 1]
        if args[i].startswith(f"{option}="):
            return args[i].partition("=")[2]
    return "PATH"


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class _DatabaseLocation(click.ParamType):  # type: ignore[type-arg]
    """A SQLite file's path (or sqlite:///path) or a postgresql:// URL. SQLite's in-memory and URI
    names are refused: they would make a cron line deliver from nowhere."""

    name = "database"
    _file = click.Path(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Location:
        if isinstance(value, Location):
            return value
        if not str(value).strip():
            self.fail("is empty: give the SQLite file's path (is DISPATCHER_DB set to nothing?)", param, ctx)
        try:
            location = parse_location(str(value))
        except DispatcherError as error:
            self.fail(str(error), param, ctx)
        if location.backend == "sqlite":
            self._file.convert(location.target, param, ctx)
        return location


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
    """ISO 8601, or a duration meaning that long ago."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        from ..recovery import parse_time  # here: the store's recovery code is not for every command

        try:
            return parse_time(str(value), SystemClock().now())
        except DispatcherError as error:
            self.fail(str(error), param, ctx)


TIME = _Time()

# SQLite integers are 64-bit: a larger number would fail in the driver, not as a usage error.
_LARGEST = 2**63 - 1


class _Refusal(click.BadParameter):
    """A bad value, said in full by its own message (click's prefix would only repeat the option)."""

    def format_message(self) -> str:
        return self.message


class WholeNumber(click.ParamType):  # type: ignore[type-arg]
    """Every integer option and argument: refused in words a person reads (click says ``1<=x<=...``)."""

    name = "integer"

    def __init__(self, low: int, high: int = _LARGEST) -> None:
        self.low = low
        self.high = high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        name = _param_name(param)
        try:
            number = value if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            raise _Refusal(f"{name}: {str(value)!r} is not a whole number", ctx, param) from None
        if self.low <= number <= self.high:
            return number
        # The 64-bit bound is no limit a person set: named only to someone who went past it.
        unbounded = number < self.low and self.high == _LARGEST
        wanted = f", at least {self.low}" if unbounded else f" from {self.low} to {self.high}"
        raise _Refusal(f"{name} must be a whole number{wanted}, not {number}", ctx, param)


def _param_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return param.opts[0]
    return param.human_readable_name if param else "the value"


# Ids and limits.
POSITIVE_INTEGER = WholeNumber(1)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def open_store(ctx: click.Context, create: bool = False) -> Store:
    """The store at --db; only the commands that put something in it may create the file, and a
    file one creates is removed again if the command then fails (say, on a refused URL)."""
    location = database(ctx)
    new = create and location.backend == "sqlite" and not location.path.exists()
    store = open_store_at(location, create=create)
    ctx.call_on_close(store.close)
    root = ctx.find_root().command
    if new and isinstance(root, _Cli):
        root.created.append(location)
    return store


def database(ctx: click.Context) -> Location:
    """Where --db (or DISPATCHER_DB) says the store is."""
    location: Location = ctx.find_root().obj
    return location


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_time_text))


def _time_text(value: Any) -> str:
    """Times in JSON output as everywhere else people and programs read them."""
    if isinstance(value, datetime):
        return to_text(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


NO_ENDPOINTS = "no endpoints yet (add one with: dispatcher endpoint add URL)"


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> None:
    """Rows under a header; ``empty`` says so when there are none (a bare header reads as a fault)."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _cell(value: Any) -> str:
    return "" if value is None else to_text(value) if isinstance(value, datetime) else str(value)


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
    "api-key": ".api_key:api_key",
    "serve": ".serve:serve",
}


@click.group(cls=_Cli, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="DISPATCHER_DB",
    default="dispatcher.db",
    show_default=True,
    type=_DatabaseLocation(),
    help="The queue's database: a SQLite file, or a postgresql:// URL (env DISPATCHER_DB).",
)
@click.option(
    "--pg-schema",
    envvar="DISPATCHER_PG_SCHEMA",
    metavar="NAME",
    help="On PostgreSQL, the schema holding the dispatcher's tables (default: dispatcher; env DISPATCHER_PG_SCHEMA).",
)
@click.version_option(__version__, prog_name="dispatcher")
@click.pass_context
def cli(ctx: click.Context, db: Location, pg_schema: str | None) -> None:
    """Queued, batched, signed webhooks from a SQLite file or a PostgreSQL database."""
    if pg_schema is not None:
        if db.backend != "postgresql":
            raise click.BadParameter(
                "names a PostgreSQL schema: give --db a postgresql:// URL", param_hint="--pg-schema"
            )
        try:
            db = Location(db.backend, db.target, check_schema_name(pg_schema))
        except DispatcherError as error:
            raise click.BadParameter(str(error), param_hint="--pg-schema") from None
    ctx.obj = db
