"""`dispatcher import`: queue the events of a JSON Lines or CSV file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from .. import importing
from ..models import counted
from .root import open_store

# Bad lines shown one by one with --skip-bad; the rest are counted.
SHOWN_SKIPPED = 20


@click.command("import")
@click.argument("file", metavar="FILE")
@click.option("--type", "event_type", help="The event type of every line without its own (required for CSV).")
@click.option(
    "--format", "file_format", type=click.Choice(importing.FORMATS), help="jsonl or csv (default: from the extension)."
)
@click.option("--skip-bad", is_flag=True, help="Import the good lines and report the bad ones, instead of none.")
@click.pass_context
def import_(ctx: click.Context, file: str, event_type: str | None, file_format: str | None, skip_bad: bool) -> None:
    """Queue the events of a JSON Lines or CSV file (- for stdin): all of them, or none."""
    with importing.open_source(_file_source(file), file_format) as source:
        store = open_store(ctx, create=True)
        with _progress_bar(source.size) as progress:
            result = importing.import_events(store, source, event_type=event_type, skip_bad=skip_bad, progress=progress)
    for number, reason in result.skipped[:SHOWN_SKIPPED]:
        click.echo(f"skipped line {number}: {reason}", err=True)
    if result.skipped_count > SHOWN_SKIPPED:
        click.echo(f"... and {result.skipped_count - SHOWN_SKIPPED} more", err=True)
    line = f"imported {counted(result.imported, 'event')}"
    if skip_bad:
        line += f", skipped {counted(result.skipped_count, 'bad line')}"
    click.echo(line)


def _file_source(argument: str) -> Path | BinaryIO:
    return sys.stdin.buffer if argument == "-" else Path(argument)


@contextmanager
def _progress_bar(length: int | None) -> Iterator[importing.Progress]:
    """A bar on stderr when it is a terminal and the length is known (not for a pipe); nothing otherwise."""
    if length is None or not sys.stderr.isatty():
        yield lambda read: None
        return
    with click.progressbar(length=length, label="importing", file=sys.stderr) as bar:
        yield bar.update
