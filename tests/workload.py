"""Processes for the concurrency tests: producers inserting events the ways applications do, and
`process` runs that time their own write transactions.

``produce`` and ``drain_timed`` are targets of ``multiprocessing`` processes started with the spawn
method, so this module imports little: a child imports it, not the test module with its fixtures and
HTTP server. A child reports through a JSON file, errors included, because an exception in a child is
otherwise only a traceback on stderr and an exit code. ``python -m tests.workload`` is the CLI, timed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import dispatcher
from dispatcher.delivery import RunOptions, run
from dispatcher.store.sqlite.connection import Connection, connect

# Every child waits at most this long for the others to be ready, so a broken start fails the test
# instead of hanging it.
READY_TIMEOUT_S = 60.0
# Between one timed run and the next.
RUN_GAP_S = 0.25
INSERT = "INSERT INTO events (type, payload) VALUES (?, ?)"


def payload(producer: int, n: int) -> dict[str, int]:
    """Names its producer and place, so every event can be traced from insert to receiver."""
    return {"producer": producer, "n": n}


def _single_row_inserter(kind: str, path: str) -> tuple[Callable[[str, dict[str, int]], int], Callable[[], None]]:
    """Insert one event in its own transaction, returning its id; and close. The kinds are the
    README's producer contract: the package's ``enqueue``, a plain INSERT on the package's
    ``connect`` (its pragmas and busy timeout), and the standard library alone."""
    if kind == "enqueue":
        queue = dispatcher.open(path)
        return queue.enqueue, queue.close
    if kind == "connect":
        conn = connect(path)
    else:
        # What an application without the package does (README, "The producer contract").
        conn = sqlite3.connect(path, timeout=30)

    def insert(event_type: str, data: dict[str, int]) -> int:
        with conn:  # commits, or rolls back on an error
            cursor = conn.execute(INSERT, (event_type, json.dumps(data)))
        return int(cursor.lastrowid or 0)

    return insert, conn.close


def produce(path: str, kind: str, producer: int, count: int, chunk: int, ready: Barrier, result_path: str) -> None:
    """Insert ``count`` events as fast as possible, then write what was committed and every error.
    ``kind`` "bulk" inserts ``chunk`` at a time with ``enqueue_many``; the others one per transaction.

    No error is retried or swallowed: a producer that meets "database is locked" reports it.
    """
    result: dict[str, Any] = {"producer": producer, "kind": kind, "committed": 0, "ids": [], "errors": []}
    longest = 0.0  # the longest one transaction took, busy waits included
    try:
        event_type = f"test.{kind}"
        if kind == "bulk":
            queue = dispatcher.open(path)
            ready.wait(READY_TIMEOUT_S)
            for first in range(0, count, chunk):
                started = time.perf_counter()
                result["committed"] += queue.enqueue_many(
                    event_type, [payload(producer, n) for n in range(first, min(first + chunk, count))]
                )
                longest = max(longest, time.perf_counter() - started)
            queue.close()
        else:
            insert, close = _single_row_inserter(kind, path)
            ready.wait(READY_TIMEOUT_S)
            for n in range(count):
                started = time.perf_counter()
                result["ids"].append(insert(event_type, payload(producer, n)))
                longest = max(longest, time.perf_counter() - started)
                result["committed"] += 1
            close()
    except BaseException as error:
        ready.abort()  # the others fail at once instead of waiting for this one; too late to matter once past
        result["errors"].append(f"producer {producer} ({kind}): {type(error).__name__}: {error}")
        result["traceback"] = traceback.format_exc()
    result["longest_ms"] = longest * 1000
    result["finished_at"] = time.monotonic()
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    sys.exit(1 if result["errors"] else 0)


class WriteLockTimes:
    """How long each ``Connection.write`` transaction held SQLite's write lock.

    From ``BEGIN IMMEDIATE`` returning (the lock is ours) to ``COMMIT`` returning (it is free again),
    by wrapping the product's own ``write``: the transactions run unchanged, only timed.

    A COMMIT that leaves the write-ahead log over the autocheckpoint threshold also runs a PASSIVE
    checkpoint before it returns, 50 to 250 ms here, but after the lock is released (other
    connections commit meanwhile). Such commits are told apart by the log's backfill count, which only
    a checkpoint raises: ``WalCkptInfo.nBackfill``, at byte 96 of the ``-shm`` file
    (https://www.sqlite.org/walformat.html). For them the time held is known only to lie between the
    time before COMMIT and the whole.
    """

    def __init__(self, db_path: str) -> None:
        self.shm = f"{db_path}-shm"
        # One per transaction: (held, of which the commit, waited before) in ms, the Store method that
        # wrote, when the lock was taken by time.monotonic() (CLOCK_MONOTONIC on Linux: one clock for
        # every process, so the test can tell which transactions overlapped its producers), and
        # whether the COMMIT also ran a checkpoint.
        self.writes: list[tuple[float, float, float, str, float, bool]] = []

    def install(self) -> None:
        write = Connection.write
        writes = self.writes
        shm: list[int] = []  # its descriptor, opened at the first write, when the file surely exists

        def backfilled() -> int:
            if not shm:
                shm.append(os.open(self.shm, os.O_RDONLY))
            return int(struct.unpack("=I", os.pread(shm[0], 4, 96))[0])

        @contextmanager
        def timed_write(connection: Connection) -> Iterator[sqlite3.Connection]:
            caller = sys._getframe(2).f_code.co_name  # past contextmanager's __enter__
            asked = time.monotonic()
            taken = done = None
            try:
                with write(connection) as conn:
                    taken = time.monotonic()
                    yield conn
                    before = backfilled()
                    done = time.monotonic()
            finally:
                if taken is not None:  # else BEGIN IMMEDIATE failed: no lock was held
                    released = time.monotonic()
                    checkpointed = done is not None and backfilled() > before
                    ms = 1000
                    commit = released - (done or released)  # a rollback counts as held
                    writes.append(
                        ((released - taken) * ms, commit * ms, (taken - asked) * ms, caller, taken, checkpointed)
                    )

        Connection.write = timed_write  # type: ignore[method-assign, assignment]


def drain_timed(path: str, time_limit: float, ready: Barrier, producing_done: Event, result_path: str) -> None:
    """``dispatcher process`` runs one after another until ``producing_done``, as a cron job run every
    moment would, each of their write transactions timed.

    The runs are the ones the CLI's ``process`` makes, here in a process of their own, so that only
    their own threads share the GIL and only their own connections are timed: not the test's HTTP
    server's."""
    times = WriteLockTimes(path)
    times.install()
    result: dict[str, Any] = {"runs": 0, "delivered": 0, "errors": []}
    try:
        ready.wait(READY_TIMEOUT_S)
        while not producing_done.is_set():
            summary = run(path, RunOptions(time_limit=time_limit))
            result["runs"] += 1
            result["delivered"] += summary.delivered
            result["errors"] += summary.errors
            # A gap between runs, as between cron's: the other runs get their turn at the endpoints.
            producing_done.wait(RUN_GAP_S)
    except BaseException as error:
        ready.abort()
        result["errors"].append(f"timed process: {type(error).__name__}: {error}")
        result["traceback"] = traceback.format_exc()
    result["writes"] = times.writes
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    sys.exit(1 if result["errors"] else 0)


def main(argv: list[str]) -> None:
    """``python -m tests.workload WRITES_FILE ARGS...``: the ``dispatcher`` command with ARGS, its
    write transactions timed into WRITES_FILE (JSON). The CLI's own code from argument parsing to exit
    code, as the console script runs it, with only ``Connection.write`` wrapped."""
    from dispatcher.cli import cli

    writes_file, args = argv[0], argv[1:]
    times = WriteLockTimes(args[args.index("--db") + 1])
    times.install()
    try:
        cli.main(args, prog_name="dispatcher")
    finally:  # the CLI always ends in sys.exit
        Path(writes_file).write_text(json.dumps(times.writes), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
