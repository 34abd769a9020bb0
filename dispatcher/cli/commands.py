"""The top-level commands: set up, deliver, look, and the demo."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .. import humane
from ..attempt_detail import attempt_detail
from ..clock import SystemClock
from ..delivery import RunOptions, run
from ..demo import run_demo
from ..permissions import Group, find_group, share_with_group
from .attempt import describe_attempt
from .interrupts import stop_on_signals
from .root import (
    DURATION,
    NO_ENDPOINTS,
    POSITIVE_INTEGER,
    TIME,
    WholeNumber,
    database,
    json_option,
    open_store,
    print_json,
    print_table,
)


def _group(ctx: click.Context, param: click.Parameter, name: str | None) -> Group | None:
    return None if name is None else find_group(name)  # an unknown group fails before anything is created


@click.command()
@click.option(
    "--group",
    callback=_group,
    help="Let this group read and write the database too (mode 0660), e.g. the web server's www-data.",
)
@click.pass_context
def init(ctx: click.Context, group: Group | None) -> None:
    """Create the database, or upgrade its schema."""
    location = database(ctx)
    if group and location.backend != "sqlite":
        raise click.BadParameter(
            "shares a SQLite file; on PostgreSQL, grant the role access instead", param_hint="--group"
        )
    open_store(ctx, create=True)
    click.echo(f"database ready: {location}")
    if group:
        sharing = share_with_group(location.path, group)
        click.echo(f"group {group.name} can read and write {sharing.database} (mode 0660)")
        if sharing.problem:
            click.echo(f"Warning: {sharing.problem}; fix: {sharing.fix}", err=True)


@click.command()
@click.option("--time-limit", type=DURATION, default="50s", show_default=True, help="Start no request after this.")
@click.option(
    "--workers",
    type=WholeNumber(1, 256),
    default=8,
    show_default=True,
    help="Requests in flight at most, across endpoints: one per endpoint, or up to its --concurrency; "
    "enough for the endpoints that are busy at once (README, Performance).",
)
@click.option(
    "--processes",
    type=WholeNumber(1, 64),
    default=1,
    show_default=True,
    help="Processes sharing the workers: 2 uses both cores of a fast receiver's drain (README, Order or throughput).",
)
@click.option("--endpoint", "endpoint_id", type=POSITIVE_INTEGER, help="Serve only this endpoint.")
@click.option("--quiet", is_flag=True, help="Print nothing unless something is wrong.")
@json_option
@click.pass_context
def process(
    ctx: click.Context,
    time_limit: float,
    workers: int,
    processes: int,
    endpoint_id: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Deliver due events (run me from cron every minute)."""
    options = RunOptions(time_limit=time_limit, workers=workers, endpoint_id=endpoint_id, processes=processes)
    with stop_on_signals() as interrupts:
        summary = run(database(ctx), options, stop=interrupts.stop)
    if as_json:
        print_json(asdict(summary))
    elif summary.interrupted or not quiet:
        click.echo(summary.line())
    for disabled in summary.disabled:
        click.echo(disabled.line(), err=True)
    for error in summary.errors:
        click.echo(f"Error: {error}", err=True)
    status = interrupts.exit_status()
    if status is not None:
        ctx.exit(status)
    if summary.errors:
        ctx.exit(1)


@click.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One row per endpoint: what is pending, delivered, dead, and its health."""
    now = SystemClock().now()
    statuses = open_store(ctx).status(now)
    if as_json:
        print_json([asdict(row) for row in statuses])
        return
    print_table(humane.status_rows(statuses, now), humane.STATUS_COLUMNS, empty=NO_ENDPOINTS)


class _Status(click.ParamType):  # type: ignore[type-arg]
    name = "status"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if value in ("ok", "failed"):
            return str(value)
        if str(value).isdigit() and 100 <= int(value) <= 599:
            return int(value)
        self.fail(f"{value!r} is not an HTTP status code, ok or failed", param, ctx)


@click.group(invoke_without_command=True)
@click.option("--endpoint", "endpoint_id", type=POSITIVE_INTEGER, help="Only this endpoint.")
@click.option("--event", "event_id", type=POSITIVE_INTEGER, help="Only requests that carried this event.")
@click.option("--status", type=_Status(), help="Only this HTTP status code, or ok, or failed.")
@click.option("--failed", is_flag=True, help="Only failed requests (the same as --status failed).")
@click.option("--since", type=TIME, help="Only requests started at or after this time (ISO 8601, or 2h for 2h ago).")
@click.option("--until", type=TIME, help="Only requests started before this time.")
@click.option("--limit", type=POSITIVE_INTEGER, default=50, show_default=True, help="The newest N.")
@json_option
@click.pass_context
def attempts(
    ctx: click.Context,
    endpoint_id: int | None,
    event_id: int | None,
    status: int | str | None,
    failed: bool,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """The request log, oldest of the newest LIMIT first; `attempts show ID` tells one in full."""
    if ctx.invoked_subcommand is not None:
        given = [param.opts[0] for param in ctx.command.params if _given(ctx, param)]
        if given:
            raise click.UsageError(f"{given[0]} filters the list; it does not go with {ctx.invoked_subcommand}")
        return
    found = open_store(ctx).attempts(
        endpoint_id, "failed" if failed else status, event_id=event_id, since=since, until=until, limit=limit
    )
    rows = [asdict(row) for row in found]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["event_ids"] = "(test)" if row["test"] else ",".join(map(str, row["event_ids"]))
        row["status_code"] = row["status_code"] or "-"
    print_table(
        rows, ["id", "endpoint", "started_at", "duration_ms", "status_code", "event_ids", "error"], empty="no attempts"
    )


def _given(ctx: click.Context, param: click.Parameter) -> bool:
    source = ctx.get_parameter_source(param.name or "")
    return source not in (None, click.core.ParameterSource.DEFAULT)


@attempts.command("show")
@click.argument("attempt_id", metavar="ID", type=POSITIVE_INTEGER)
@json_option
@click.pass_context
def show_attempt(ctx: click.Context, attempt_id: int, as_json: bool) -> None:
    """One attempt in full: the request as sent and the response."""
    detail = attempt_detail(open_store(ctx), attempt_id)
    if as_json:
        print_json(asdict(detail))
        return
    for line in describe_attempt(detail):
        click.echo(line)


@click.command()
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
