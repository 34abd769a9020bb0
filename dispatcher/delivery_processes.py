"""One run in several processes (``--processes``), so that it can use more than one core.

Threads of one process take turns at the GIL: on a fast receiver more requests in flight do
not make a run faster, more processes do. Each other process runs its share of the workers
as an overlapping run would, sharing the endpoints' places in flight through the leases in
the database, and sends its summary back to be added to this one's. They keep the system
clock. Signals are this process's to handle: the others ignore Ctrl-C and SIGTERM, stop when
this one's run is stopped, and stop when this process is gone (killed, or quit at once),
finishing their requests in flight either way. They are spawned, not forked, so a script that
calls ``run`` with processes must do so under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as SharedEvent
from pathlib import Path

from .delivery import RunOptions, run, workers_of
from .errors import DispatcherError
from .models import RunSummary
from .store import Location, parse_location

# How often a stop is passed on, and a process checks that the one that started it is still there.
WATCH_S = 0.05


@dataclass
class Others:
    """The summaries of the other processes, once they have all ended."""

    summaries: list[RunSummary] = field(default_factory=list)


@contextmanager
def alongside(path: str | Path | Location, options: RunOptions, stop: threading.Event) -> Iterator[Others]:
    """Start the other processes of a run with ``options.processes``; the block runs this one's
    share; leaving it waits for the others (a stop set meanwhile is passed on to them)."""
    context = multiprocessing.get_context("spawn")  # forking a process with threads and open databases is not safe
    stopping = context.Event()
    deadline = time.time() + options.time_limit
    children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    for share in workers_of(options)[1:]:
        reader, writer = context.Pipe(duplex=False)
        share_options = replace(options, workers=share, processes=1)
        child = context.Process(
            target=serve_share,
            args=(parse_location(path), share_options, deadline, stopping, os.getpid(), writer),
            name="dispatcher process",
        )
        child.start()
        writer.close()  # the child's end: so its death without a summary reads as the end of the pipe
        children.append((child, reader))
    others = Others()
    relayed = threading.Event()
    threading.Thread(target=_relay, args=(stop, stopping, relayed), daemon=True).start()
    try:
        yield others
    except BaseException:
        stopping.set()
        raise
    finally:
        for started, reader in children:
            others.summaries.append(_summary_of(started, reader))
        relayed.set()


def serve_share(
    path: Location, options: RunOptions, deadline: float, stopping: SharedEvent, parent: int, results: Connection
) -> None:
    """A process's share of the run (the target of each other process)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    stop = threading.Event()
    threading.Thread(target=_watch, args=(stopping, parent, stop), daemon=True).start()
    try:
        summary = run(path, replace(options, time_limit=max(0.0, deadline - time.time())), stop=stop)
    except DispatcherError as error:
        summary = RunSummary(errors=[str(error)])
    except Exception as error:  # reported by the first process, as its own workers' faults are
        summary = RunSummary(errors=[f"{type(error).__name__}: {error}"])
    results.send(summary)
    results.close()


def _summary_of(child: multiprocessing.process.BaseProcess, reader: Connection) -> RunSummary:
    try:
        summary: RunSummary = reader.recv()
    except EOFError:
        child.join()
        return RunSummary(errors=[f"worker process {child.pid} ended without its summary (exit code {child.exitcode})"])
    finally:
        reader.close()
    child.join()
    return summary


def _relay(stop: threading.Event, stopping: SharedEvent, relayed: threading.Event) -> None:
    while not relayed.wait(WATCH_S):
        if stop.is_set():
            stopping.set()
            return


def _watch(stopping: SharedEvent, parent: int, stop: threading.Event) -> None:
    while not stopping.wait(WATCH_S):
        if os.getppid() != parent:
            break
    stop.set()
