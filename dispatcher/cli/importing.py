"""`dispatcher import`: queue the events of a JSON Lines or CSV file."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from .. import importing
from ..models import counted
from .root import json_option, open_store, print_json

# Bad lines shown one by one with --skip-bad; the rest are counted.
SHOWN_SKIPPED = 20


@click.command("import")
@click.argument("file", metavar="FILE")
@click.option("--type", "event_type", help="The event type of every line without its own (required for CSV).")
@click.option(
    "--format", "file_format", type=click.Choice(importing.FORMATS), help="jsonl or csv (default: from the extension)."
)
@click.option("--skip-bad", is_flag=True, help="Import the good lines and report the bad ones, instead of none.")
@json_option
@click.pass_context
def import_(
    ctx: click.Context, file: str, event_type: str | None, file_format: str | None, skip_bad: bool, as_json: bool
) -> None:
    """Queue the events of a JSON Lines or CSV file (- for stdin): all of them, or none."""
    with importing.open_source(_file_source(file), file_format) as source:
        store = open_store(ctx, create=True)
        with _progress_bar(source.size) as progress:
            result = importing.import_events(store, source, event_type=event_type, skip_bad=skip_bad, progress=progress)
    if as_json:
        skipped_lines = [{"line": number, "reason": reason} for number, reason in result.skipped]
        print_json({"imported": result.imported, "skipped": result.skipped_count, "skipped_lines": skipped_lines})
        return
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
    """A bar on stderr when it is a terminal and the length is known (not for a pipe); nothing otherwise.

    It moves with the file's bytes, as the number of events is not known until the end, and shows the
    events queued so far and their rate; the time left is worked out here from the first chunk on
    (click's own waits a second, longer than many imports).
    """
    if length is None or not sys.stderr.isatty():
        yield lambda read, events: None
        return
    started = time.monotonic()
    done = queued = 0
    with click.progressbar(
        length=length,
        label="importing",
        file=sys.stderr,
        show_eta=False,
        show_percent=True,
        item_show_func=lambda shown: shown,
    ) as bar:

        def update(read: int, events: int) -> None:
            nonlocal done, queued
            done, queued = done + read, queued + events
            elapsed = max(time.monotonic() - started, 0.001)
            left = round((length - done) / (max(done, 1) / elapsed))
            counts = f"{queued:,} events, {round(queued / elapsed):,}/s, {_megabytes(done)} of {_megabytes(length)} MB"
            bar.update(read, f"{counts}, {left // 60}:{left % 60:02} left")

        yield update


def _megabytes(size: float) -> str:
    return f"{size / 1_000_000:.1f}"
