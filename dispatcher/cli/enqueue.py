"""`dispatcher enqueue`: queue one event from a shell (its plain form takes a shorter way: console.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..console import no_subscriber_warning
from ..producer import Queue
from .root import open_store


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.argument("payload", required=False, default="{}")
@click.pass_context
def enqueue(ctx: click.Context, event_type: str, payload: str) -> None:
    """Queue one event. PAYLOAD is JSON text, - for stdin, or @FILE; default {}."""
    queued = Queue(open_store(ctx, create=True)).put(event_type, _payload_source(payload))
    click.echo(queued.id)
    if not queued.endpoints:
        click.echo(no_subscriber_warning(event_type), err=True)


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
