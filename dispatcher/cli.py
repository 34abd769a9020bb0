"""The command line: parse options, call the library, print. No logic of its own."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from . import __version__, endpoints
from .clock import SystemClock
from .demo import run_demo
from .durations import parse_duration
from .errors import DispatcherError
from .models import Endpoint
from .process import RunOptions, run
from .queue import Queue
from .settings import defaults_from, key
from .store import Store


class _Cli(click.Group):
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


def _store(ctx: click.Context) -> Store:
    store = Store.open(ctx.obj)
    ctx.call_on_close(store.close)
    return store


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


@click.group(cls=_Cli)
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


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the database, or upgrade its schema."""
    _store(ctx)
    click.echo(f"database ready: {ctx.obj}")


# --- endpoints ----------------------------------------------------------------


@cli.group()
def endpoint() -> None:
    """Register and manage receiving endpoints."""


_ENDPOINT_OPTIONS = [
    click.option("--name", help="A label for people."),
    click.option(
        "--event",
        "events",
        multiple=True,
        help="Event type pattern (GLOB, case-sensitive); repeat for several. A new endpoint gets *.",
    ),
    click.option("--secret", help="Signing secret (a new endpoint without one gets a random one)."),
    click.option("--order", type=click.Choice(["asc", "desc"]), help="Oldest or newest events first."),
    click.option("--batch-size", type=int, help="Events per request (default 10)."),
    click.option("--timeout", type=DURATION, help="Deadline for one request (default 15s)."),
    click.option("--max-attempts", type=int, help="Requests per batch, counting the first (default 8)."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
]


def _endpoint_options(command: Any) -> Any:
    """The settings shared by `endpoint add` and `endpoint update`."""
    for option in reversed(_ENDPOINT_OPTIONS):
        command = option(command)
    return command


def _show_endpoint(store: Store, item: Endpoint, as_json: bool, show_secret: bool) -> None:
    data = endpoints.as_json(item, defaults_from(store.config()), show_secret)
    if as_json:
        _print_json(data)
        return
    for name, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{name}: {'' if shown is None else shown}")


@endpoint.command("add")
@click.argument("url")
@_endpoint_options
@click.pass_context
def endpoint_add(ctx: click.Context, /, url: str, as_json: bool, events: tuple[str, ...], **options: Any) -> None:
    """Register URL to receive events; prints its id and secret."""
    store = _store(ctx)
    item = endpoints.add(store, url, events=events or ("*",), **options)
    if as_json:
        _show_endpoint(store, item, as_json=True, show_secret=True)
    else:
        click.echo(f"id: {item.id}")
        click.echo(f"secret: {item.secret}")


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def endpoint_list(ctx: click.Context, as_json: bool) -> None:
    """List endpoints."""
    store = _store(ctx)
    defaults = defaults_from(store.config())
    rows = [endpoints.as_json(item, defaults) for item in store.endpoints()]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        row["events"] = ",".join(row["events"])
    _print_table(rows, ["id", "name", "url", "events", "enabled", "batch_size", "order"])


@endpoint.command("show")
@click.argument("endpoint_id", type=int)
@click.option("--show-secret", is_flag=True, help="Include the signing secret.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def endpoint_show(ctx: click.Context, endpoint_id: int, show_secret: bool, as_json: bool) -> None:
    """Show one endpoint."""
    store = _store(ctx)
    _show_endpoint(store, store.endpoint(endpoint_id), as_json, show_secret)


@endpoint.command("update")
@click.argument("endpoint_id", type=int)
@click.option("--url", help="New URL.")
@_endpoint_options
@click.pass_context
def endpoint_update(
    ctx: click.Context, /, endpoint_id: int, as_json: bool, events: tuple[str, ...], **options: Any
) -> None:
    """Change an endpoint's settings; options not given stay as they are."""
    store = _store(ctx)
    changes = {name: value for name, value in options.items() if value is not None}
    if events:
        changes["events"] = events
    item = endpoints.update(store, endpoint_id, **changes)
    _show_endpoint(store, item, as_json, show_secret=False)


@endpoint.command("enable")
@click.argument("endpoint_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def endpoint_enable(ctx: click.Context, endpoint_id: int, as_json: bool) -> None:
    """Resume sending to an endpoint; what queued meanwhile goes out."""
    store = _store(ctx)
    _show_endpoint(store, endpoints.enable(store, endpoint_id), as_json, show_secret=False)


@endpoint.command("disable")
@click.argument("endpoint_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def endpoint_disable(ctx: click.Context, endpoint_id: int, as_json: bool) -> None:
    """Stop sending to an endpoint; its events keep queueing."""
    store = _store(ctx)
    item = endpoints.disable(store, endpoint_id, SystemClock().now())
    _show_endpoint(store, item, as_json, show_secret=False)


@endpoint.command("delete")
@click.argument("endpoint_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def endpoint_delete(ctx: click.Context, endpoint_id: int, yes: bool) -> None:
    """Delete an endpoint with its queued deliveries and attempt history."""
    store = _store(ctx)
    item = store.endpoint(endpoint_id)
    if not yes:
        click.confirm(f"Delete endpoint {item.id} ({item.url}) and everything queued for it?", abort=True)
    store.delete_endpoint(endpoint_id)
    click.echo(f"deleted endpoint {endpoint_id}")


# --- producing and delivering -------------------------------------------------


@cli.command()
@click.argument("event_type", metavar="TYPE")
@click.argument("payload", required=False, default="{}")
@click.pass_context
def enqueue(ctx: click.Context, event_type: str, payload: str) -> None:
    """Queue one event. PAYLOAD is JSON text, - for stdin, or @FILE; default {}."""
    click.echo(Queue(_store(ctx)).enqueue(event_type, _payload_source(payload)))


def _payload_source(argument: str) -> str | bytes:
    if argument == "-":
        return sys.stdin.buffer.read()
    if argument.startswith("@"):
        try:
            return Path(argument[1:]).read_bytes()
        except OSError as error:
            message = f"cannot read {argument[1:]!r}: {error.strerror}"
            raise click.BadParameter(message, param_hint="PAYLOAD") from None
    return argument


@cli.command()
@click.option("--time-limit", type=DURATION, default="50s", show_default=True, help="Start no request after this.")
@click.option("--workers", type=click.IntRange(1, 256), default=4, show_default=True, help="Endpoints served at once.")
@click.option("--endpoint", "endpoint_id", type=int, help="Serve only this endpoint.")
@click.option("--quiet", is_flag=True, help="Print nothing unless something is wrong.")
@click.pass_context
def process(ctx: click.Context, time_limit: float, workers: int, endpoint_id: int | None, quiet: bool) -> None:
    """Deliver due events (run me from cron every minute)."""
    summary = run(ctx.obj, RunOptions(time_limit=time_limit, workers=workers, endpoint_id=endpoint_id))
    if not quiet:
        click.echo(summary.line())
    for error in summary.errors:
        click.echo(f"Error: {error}", err=True)
    if summary.errors:
        ctx.exit(1)


# --- looking at it ------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One row per endpoint: what is pending, delivered, dead, and its health."""
    rows = [asdict(row) for row in _store(ctx).status(SystemClock().now())]
    if as_json:
        _print_json(rows)
        return
    _print_table(
        rows,
        [
            "endpoint",
            "enabled",
            "pending",
            "in_flight",
            "delivered",
            "dead",
            "consecutive_failures",
            "oldest_pending_age_s",
            "last_error",
        ],
    )


@cli.command()
@click.option("--endpoint", "endpoint_id", type=int, help="Only this endpoint.")
@click.option("--failed", is_flag=True, help="Only failed requests.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="The newest N.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def attempts(ctx: click.Context, endpoint_id: int | None, failed: bool, limit: int, as_json: bool) -> None:
    """The request log, oldest of the newest LIMIT first."""
    rows = [asdict(row) for row in _store(ctx).attempts(endpoint_id, failed, limit)]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        row["event_ids"] = ",".join(map(str, row["event_ids"]))
        row["status_code"] = row["status_code"] or "-"
    _print_table(rows, ["id", "endpoint", "started_at", "duration_ms", "status_code", "event_ids", "error"])


# --- settings -----------------------------------------------------------------


@cli.group()
def config() -> None:
    """Global defaults, overridden per endpoint: order, batch_size, timeout, max_attempts."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def config_list(ctx: click.Context, as_json: bool) -> None:
    """Every setting with its value in force."""
    values = _config_values(_store(ctx))
    if as_json:
        _print_json(values)
        return
    for name, value in values.items():
        click.echo(f"{name} = {value}")


@config.command("get")
@click.argument("name", metavar="KEY")
@click.pass_context
def config_get(ctx: click.Context, name: str) -> None:
    """Print one setting's value in force."""
    key(name)
    click.echo(_config_values(_store(ctx))[name])


@config.command("set")
@click.argument("name", metavar="KEY")
@click.argument("value")
@click.pass_context
def config_set(ctx: click.Context, name: str, value: str) -> None:
    """Change a global default."""
    setting = key(name)
    stored = setting.format(setting.parse(value))
    _store(ctx).set_config(name, stored)
    click.echo(f"{name} = {stored}")


def _config_values(store: Store) -> dict[str, str]:
    defaults = asdict(defaults_from(store.config()))
    return {name: key(name).format(value) for name, value in defaults.items()}


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the demo database to look at afterwards.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> None:
    """Deliver 25 events to a local receiver on a throwaway database, and show them arrive."""
    folder = Path(tempfile.mkdtemp(prefix="dispatcher-demo-"))
    try:
        ok = run_demo(folder / "demo.db", click.echo)
    finally:
        if keep:
            click.echo(f"kept the database: dispatcher --db {folder / 'demo.db'} status")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if not ok:
        ctx.exit(1)
