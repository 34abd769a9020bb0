"""The console script. Every command line goes through click, but for the plain
`dispatcher [--db FILE] enqueue TYPE [PAYLOAD]` into a file that is set up: shell scripts and cron
jobs run that once per event, and click with the delivery code would cost it ten times what the
insert does (bench/ case 1b). That short way does what the click command does, with the same
checks, and hands anything it is not sure of (a missing file, an old schema, a payload from stdin
or a file, any refusal) to the click command, which then says what is wrong in its usual words.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing for `enqueue`
if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_DATABASE = "dispatcher.db"


def main() -> None:
    if not _enqueued(sys.argv[1:]):
        from .cli import cli

        cli(prog_name="dispatcher")


def no_subscriber_warning(event_type: str) -> str:
    return (
        f"Warning: no endpoint subscribes to {event_type!r}: the event is kept but will not be sent "
        "(see: dispatcher endpoint list)"
    )


def _enqueued(args: Sequence[str]) -> bool:
    """Queue the event of a plain `enqueue` command line and print what click would; False, having
    done nothing, for any other command line or whenever the click command should answer."""
    plain = _plain_enqueue(args)
    if plain is None:
        return False
    path, event_type, payload = plain
    from .errors import DispatcherError
    from .payloads import check_type, stored_text
    from .store.sqlite.enqueueing import enqueue_into

    try:
        row = (check_type(event_type), stored_text(payload))
    except DispatcherError:
        return False
    queued = enqueue_into(path, *row)
    if queued is None:
        return False
    event_id, queued_for = queued
    print(event_id)
    if not queued_for:
        print(no_subscriber_warning(event_type), file=sys.stderr)
    return True


def _plain_enqueue(args: Sequence[str]) -> tuple[str, str, str] | None:
    """(database path, type, payload text) of `[--db FILE | --db=FILE] enqueue TYPE [PAYLOAD]`, with
    the file already there; None for any other command line."""
    if "_DISPATCHER_COMPLETE" in os.environ:  # click's shell completion asking
        return None
    path = os.environ.get("DISPATCHER_DB") or DEFAULT_DATABASE
    if args[:1] == ["--db"] and len(args) > 1:
        path, args = args[1], args[2:]
    elif args[:1] and args[0].startswith("--db="):
        path, args = args[0].removeprefix("--db="), args[1:]
    if args[:1] != ["enqueue"] or not 2 <= len(args) <= 3:
        return None
    event_type, payload = args[1], args[2] if len(args) == 3 else "{}"
    if event_type.startswith("-") or payload.startswith(("-", "@")):
        return None  # an option, stdin or a file: click's to read
    # A plain path only: a URL (sqlite:///, postgresql://) is the click command's to read.
    if not path.strip() or path == ":memory:" or path.startswith("file:") or not os.path.isfile(path):
        return None
    return path, event_type, payload
