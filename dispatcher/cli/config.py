"""`dispatcher config ...`: the global defaults kept in the database."""

from __future__ import annotations

import click

from .. import config as settings
from ..clock import SystemClock
from .root import json_option, open_store, print_json


@click.group()
def config() -> None:
    """Global settings: delivery defaults (overridden per endpoint), retention, notifications."""


@config.command("list")
@json_option
@click.pass_context
def config_list(ctx: click.Context, as_json: bool) -> None:
    """Every setting with its value in force."""
    values = settings.in_force(open_store(ctx).config())
    if as_json:
        print_json(values)
        return
    for name, value in values.items():
        click.echo(f"{name} = {value}".rstrip())


@config.command("get")
@click.argument("name", metavar="KEY")
@click.pass_context
def config_get(ctx: click.Context, name: str) -> None:
    """Print one setting's value in force."""
    settings.key(name)
    click.echo(settings.in_force(open_store(ctx).config())[name])


@config.command("set")
@click.argument("name", metavar="KEY")
@click.argument("value")
@click.pass_context
def config_set(ctx: click.Context, name: str, value: str) -> None:
    """Change a global default."""
    store = open_store(ctx, create=True)
    settings.set_value(store, name, value, SystemClock().now())
    click.echo(f"{name} = {settings.in_force(store.config())[name]}".rstrip())
