"""`dispatcher api-key ...`: the keys of the HTTP API and the admin UI (`dispatcher serve`)."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import api_keys
from ..clock import SystemClock
from .root import POSITIVE_INTEGER, json_option, open_store, print_json, print_table


@click.group("api-key")
def api_key() -> None:
    """Keys for the HTTP API and the admin UI of `dispatcher serve`."""


@api_key.command("create")
@click.option("--name", help="A label for people: who or what uses the key.")
@click.option("--read-only", is_flag=True, help="The key sees everything and changes nothing.")
@json_option
@click.pass_context
def api_key_create(ctx: click.Context, name: str | None, read_only: bool, as_json: bool) -> None:
    """Make a key and print it: the only time it is shown."""
    made = api_keys.create(open_store(ctx, create=True), SystemClock().now(), name, read_only)
    if as_json:
        key = asdict(made.key)
        del key["last_used_at"]
        print_json({**key, "key": made.text})
        return
    click.echo(f"id: {made.key.id}")
    click.echo(f"key: {made.text}")
    click.echo("Keep it now: only its hash is stored, and it is never shown again.", err=True)


@api_key.command("list")
@json_option
@click.pass_context
def api_key_list(ctx: click.Context, as_json: bool) -> None:
    """Every key (never the key itself)."""
    keys = [asdict(key) for key in open_store(ctx).api_keys()]
    if as_json:
        print_json(keys)
        return
    print_table(
        keys,
        ("id", "name", "read_only", "created_at", "last_used_at"),
        empty="no API keys yet (make one with: dispatcher api-key create)",
    )


@api_key.command("revoke")
@click.argument("key_id", metavar="ID", type=POSITIVE_INTEGER)
@click.pass_context
def api_key_revoke(ctx: click.Context, key_id: int) -> None:
    """Delete a key at once; admin UI logins made with it end too."""
    api_keys.revoke(open_store(ctx), key_id)
    click.echo(f"API key {key_id} revoked")
