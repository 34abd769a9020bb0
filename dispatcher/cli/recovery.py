"""`dispatcher dead`, `replay` and `prune`: what failed, sending it again, and keeping the tables small."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime

import click

from .. import recovery
from ..clock import SystemClock
from ..config import config_value
from ..errors import DispatcherError
from ..models import Selection, counted
from .root import DURATION, POSITIVE_INTEGER, TIME, json_option, open_store, print_json, print_table

# Replays this large get a progress bar on a terminal.
PROGRESS_FROM = 10_000


@click.command()
@click.option("--endpoint", "endpoint_id", type=POSITIVE_INTEGER, help="Only this endpoint's.")
@json_option
@click.pass_context
def dead(ctx: click.Context, endpoint_id: int | None, as_json: bool) -> None:
    """Dead deliveries: events an endpoint will not get unless replayed."""
    rows = [asdict(row) for row in open_store(ctx).dead(endpoint_id)]
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["endpoint", "event_id", "type", "attempts", "died_at", "last_error"], empty="no dead deliveries")


@click.command()
@click.option("--event", "event_id", type=POSITIVE_INTEGER, help="This event's deliveries.")
@click.option("--endpoint", "endpoint_id", type=POSITIVE_INTEGER, help="This endpoint's deliveries.")
@click.option("--dead", "dead_only", is_flag=True, help="Only dead deliveries.")
@click.option("--since", type=TIME, help="Events queued at or after this time (ISO 8601, or 2h for 2h ago).")
@click.option("--until", type=TIME, help="Events queued before this time.")
@click.option("--type", "event_type", help="Events of this type, or of types matching this pattern (lead.*).")
@click.option("--dry-run", is_flag=True, help="Only print how many deliveries would be replayed.")
@json_option
@click.pass_context
def replay(
    ctx: click.Context,
    event_id: int | None,
    endpoint_id: int | None,
    dead_only: bool,
    since: datetime | None,
    until: datetime | None,
    event_type: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send delivered or dead deliveries again, as fresh work (their history stays)."""
    store = open_store(ctx)
    selection = Selection(event_id, endpoint_id, dead_only, since, until, event_type)
    count = recovery.count_replayable(store, selection)
    if dry_run:
        if as_json:
            print_json({"would_replay": count})
        else:
            click.echo(f"{counted(count, 'delivery', 'deliveries')} would be replayed")
        return
    if count >= PROGRESS_FROM:
        with click.progressbar(length=count, label="replaying", file=sys.stderr) as bar:
            replayed = recovery.replay(store, selection, lambda done: bar.update(done))
    else:
        replayed = recovery.replay(store, selection)
    if as_json:
        print_json({"replayed": replayed})
    else:
        click.echo(f"{counted(replayed, 'delivery', 'deliveries')} replayed")


@click.command()
@click.option("--older-than", type=DURATION, help="Age of what goes (default: the retention setting, 7d).")
@click.option("--dead", is_flag=True, help="Also dead deliveries (kept otherwise, for replay).")
@json_option
@click.pass_context
def prune(ctx: click.Context, older_than: float | None, dead: bool, as_json: bool) -> None:
    """Delete delivered work, its attempt log and events no endpoint still needs."""
    store = open_store(ctx)
    if older_than is None:
        older_than = config_value(store.config(), "retention")
        if older_than is None:
            raise DispatcherError("retention is none: give --older-than")
    pruned = recovery.prune(store, older_than, SystemClock().now(), dead=dead)
    if as_json:
        print_json(asdict(pruned))
    else:
        click.echo(
            f"pruned {counted(pruned.events, 'event')}, {counted(pruned.deliveries, 'delivery', 'deliveries')}, "
            f"{counted(pruned.batches, 'batch', 'batches')}, {counted(pruned.attempts, 'attempt')}"
        )
