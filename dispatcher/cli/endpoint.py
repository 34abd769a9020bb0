"""`dispatcher endpoint ...`: register and manage receiving endpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from .. import endpoint_view, endpoints, humane, ping
from ..clock import SystemClock, to_text
from ..config import defaults_from
from ..endpoint_settings import FOLLOWS_GLOBAL, SETTINGS, Flag, Setting
from ..models import Endpoint
from ..sending.reach import public_url
from ..store import Store
from .root import (
    DURATION,
    NO_ENDPOINTS,
    POSITIVE_INTEGER,
    WholeNumber,
    json_option,
    open_store,
    print_json,
    print_table,
)


@click.group()
def endpoint() -> None:
    """Register and manage receiving endpoints."""


def _click_type(flag: Flag) -> click.ParamType[Any] | None:
    if flag.choices:
        return click.Choice(flag.choices)
    if flag.whole:
        return WholeNumber(*flag.whole)
    return DURATION if flag.duration else None


def _setting_options(settings: Sequence[Setting]) -> Callable[[Any], Any]:
    """An option for each of ``settings``, as its Flag says; not given, it is None (a repeated one: ())."""

    def decorate(command: Any) -> Any:
        for setting in reversed(settings):
            flag = setting.flag
            command = click.option(
                flag.spelling,
                setting.name,
                type=_click_type(flag),
                metavar=flag.metavar,
                multiple=flag.multiple,
                default=None,
                help=f"{setting.help} Repeat for several." if flag.multiple else setting.help,
            )(command)
        return command

    return decorate


def _show_endpoint(store: Store, item: Endpoint, as_json: bool, show_secret: bool) -> None:
    config = store.config()
    if as_json:
        print_json(endpoint_view.as_json(item, defaults_from(config), show_secret))
        return
    for line in humane.endpoint_lines(item, config, show_secret):
        click.echo(line)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line: an option left out is None, a repeatable one ()."""
    return {name: value for name, value in options.items() if value is not None and value != ()}


def _warn(store: Store, item: Endpoint) -> None:
    for warning in endpoint_view.warnings(item, defaults_from(store.config())):
        click.echo(f"Warning: {warning}", err=True)


_SHOW_SECRET = click.option("--show-secret", is_flag=True, help="Include the signing secret (never shown otherwise).")


@endpoint.command("add")
@click.argument("url")
@_setting_options([setting for setting in SETTINGS if not setting.required])
@json_option
@_SHOW_SECRET
@click.pass_context
def endpoint_add(ctx: click.Context, /, url: str, as_json: bool, show_secret: bool, **options: Any) -> None:
    """Register URL to receive events; prints its id and secret."""
    store = open_store(ctx, create=True)
    item = endpoints.add(store, url, **_given(options))
    _warn(store, item)
    if as_json:
        _show_endpoint(store, item, as_json=True, show_secret=show_secret)
    else:
        click.echo(f"id: {item.id}")
        click.echo(f"secret: {item.secret}")


@endpoint.command("list")
@json_option
@click.pass_context
def endpoint_list(ctx: click.Context, as_json: bool) -> None:
    """List endpoints."""
    store = open_store(ctx)
    defaults = defaults_from(store.config())
    rows = [endpoint_view.as_json(item, defaults) for item in store.endpoints()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["events"] = ",".join(row["events"])
        row["enabled"] = humane.yes_no(row["enabled"])
    print_table(rows, ["id", "name", "url", "events", "enabled", "batch_size", "order"], empty=NO_ENDPOINTS)


@endpoint.command("show")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@_SHOW_SECRET
@json_option
@click.pass_context
def endpoint_show(ctx: click.Context, endpoint_id: int, show_secret: bool, as_json: bool) -> None:
    """Show one endpoint."""
    store = open_store(ctx)
    _show_endpoint(store, store.endpoint(endpoint_id), as_json, show_secret)


@endpoint.command("update")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@_setting_options(SETTINGS)
@json_option
@click.option("--clear-headers", is_flag=True, help="Drop the fixed headers (--header then sets new ones).")
@click.option(
    "--reset",
    "resets",
    type=click.Choice(FOLLOWS_GLOBAL),
    multiple=True,
    help="Follow the global setting (dispatcher config) again; repeat for several.",
)
@click.pass_context
def endpoint_update(
    ctx: click.Context,
    /,
    endpoint_id: int,
    as_json: bool,
    clear_headers: bool,
    resets: tuple[str, ...],
    **options: Any,
) -> None:
    """Change an endpoint's settings; options not given stay as they are."""
    store = open_store(ctx)
    changes = _given(options)
    both = sorted(set(resets) & set(changes))
    if both:
        raise click.UsageError(f"--reset {both[0]} and a new value for it: give one or the other")
    changes.update(dict.fromkeys(resets))  # None: the global setting
    if clear_headers:
        changes.setdefault("headers", ())
    item = endpoints.update(store, endpoint_id, now=SystemClock().now(), **changes)
    _warn(store, item)
    _show_endpoint(store, item, as_json, show_secret=False)


@endpoint.command("enable")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@json_option
@click.pass_context
def endpoint_enable(ctx: click.Context, endpoint_id: int, as_json: bool) -> None:
    """Resume sending to an endpoint; what queued meanwhile goes out."""
    store = open_store(ctx)
    _show_endpoint(store, endpoints.enable(store, endpoint_id, SystemClock().now()), as_json, show_secret=False)


@endpoint.command("disable")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@json_option
@click.pass_context
def endpoint_disable(ctx: click.Context, endpoint_id: int, as_json: bool) -> None:
    """Stop sending to an endpoint; its events keep queueing."""
    store = open_store(ctx)
    item = endpoints.disable(store, endpoint_id, SystemClock().now())
    _show_endpoint(store, item, as_json, show_secret=False)


@endpoint.command("delete")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def endpoint_delete(ctx: click.Context, endpoint_id: int, yes: bool) -> None:
    """Delete an endpoint with its queued deliveries and attempt history."""
    store = open_store(ctx)
    item = store.endpoint(endpoint_id)
    if not yes:
        click.confirm(f"Delete endpoint {item.id} ({public_url(item.url)}) and everything queued for it?", abort=True)
    store.delete_endpoint(endpoint_id)
    click.echo(f"deleted endpoint {endpoint_id}")


@endpoint.command("retry")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@json_option
@click.pass_context
def endpoint_retry(ctx: click.Context, endpoint_id: int, as_json: bool) -> None:
    """Make the batch an endpoint waits to retry due now; the next `process` sends it."""
    store = open_store(ctx)
    item, waiting = endpoints.retry_now(store, endpoint_id, SystemClock().now())
    if as_json:
        print_json({"id": item.id, "due_now": waiting, "enabled": item.enabled})
        return
    done = f"{waiting} waiting batch due now" if waiting else "nothing waiting"
    disabled = f" (disabled: `dispatcher endpoint enable {item.id}` resumes it)" if not item.enabled else ""
    click.echo(f"endpoint {item.id}: {done}{disabled}")


@endpoint.command("rotate-secret")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@click.option("--secret", help="The new secret (default: a random one).")
@click.option(
    "--grace",
    type=DURATION,
    default="24h",
    show_default=True,
    help="How long the old secret still signs too (timestamped and standard schemes only).",
)
@json_option
@_SHOW_SECRET
@click.pass_context
def endpoint_rotate_secret(
    ctx: click.Context, endpoint_id: int, secret: str | None, grace: float, as_json: bool, show_secret: bool
) -> None:
    """Give an endpoint a new signing secret and print it."""
    store = open_store(ctx)
    item, old_until = endpoints.rotate_secret(store, endpoint_id, SystemClock().now(), secret, grace)
    if as_json:
        shown = {"secret": item.secret} if show_secret else {}
        print_json({"id": item.id, **shown, "old_secret_signs_until": old_until})
        return
    click.echo(f"secret: {item.secret}")
    if old_until:
        click.echo(f"the old secret also signs until {to_text(old_until)}")
    else:
        click.echo("the old secret no longer signs")


@endpoint.command("test")
@click.argument("endpoint_id", type=POSITIVE_INTEGER)
@click.option("--type", "event_type", default=ping.TEST_TYPE, show_default=True, help="Event type to send.")
@click.option("--payload", default=ping.TEST_PAYLOAD, show_default=True, help="Event payload (JSON).")
@json_option
@click.pass_context
def endpoint_test(ctx: click.Context, endpoint_id: int, event_type: str, payload: str, as_json: bool) -> None:
    """Send one signed test request now and show the answer; exit 1 unless accepted."""
    store = open_store(ctx)
    report = ping.describe(ping.send_test(store, endpoint_id, SystemClock(), event_type, payload))
    if as_json:
        print_json(report)
    else:
        verdict = "accepted" if report["accepted"] else f"NOT accepted: {report['error']}"
        status = report["status_code"] or "no response"
        click.echo(f"status: {status} ({verdict}) in {report['duration_ms']} ms")
        for name, value in report["response_headers"].items():
            click.echo(f"{name}: {value}")
        if report["response_body"]:
            click.echo()
            click.echo(report["response_body"])
    if not report["accepted"]:
        ctx.exit(1)
