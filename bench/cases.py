"""The benchmark's cases: each measures the dispatcher and its reference once, in this process.

A case gets a folder of its own that lasts across its repetitions (so a large history is built
once) and returns a :class:`Sample`; ``run.py`` repeats it and reports medians and ratios. Every
database gets WAL and ``synchronous = NORMAL``, the dispatcher's own pragmas, so the references
and the dispatcher pay for the same durability.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

import dispatcher
from dispatcher import endpoints, importing
from dispatcher.delivery import RunOptions, run
from dispatcher.store import Location, open_store

from .receivers import delayed_receiver, fast_receiver

SLOW_ENDPOINTS = 20
SLOW_LATENCY = 0.1  # seconds the slow receiver waits before answering
SLOW_WORKERS = 16
DEFAULT_WORKERS = RunOptions().workers
HUEY_THREADS = 4
MEMORY_LIMIT_MB = 150.0


@dataclass(frozen=True)
class Sizes:
    enqueue: int  # events queued one at a time
    bulk: int  # events queued in one call
    drain: int  # events drained to the fast receiver
    slow_events: int  # events fanned out to each of the 20 slow endpoints
    slow_reference: int  # deliveries the slow references make (they are slow)
    history: int  # delivered rows already in the tables
    history_drain: int  # events drained against that history
    memory: int  # events queued for the memory case
    shell: int  # `dispatcher enqueue` commands run
    served: int  # events posted to `dispatcher serve`
    repeat: int
    import_events: int  # events of the import drained at concurrency 16 (case 9)
    import_reference: int  # events of it drained at concurrency 1, a sample (slow: ~95 a second)
    concurrent_drain: int  # events drained at concurrency 4 to the fast receiver (case 9b)


SIZES = {
    "full": Sizes(
        20_000, 200_000, 30_000, 300, 400, 1_000_000, 10_000, 1_000_000, 200, 20_000, 5, 100_000, 2_000, 20_000
    ),
    "quick": Sizes(5_000, 50_000, 10_000, 100, 200, 100_000, 5_000, 100_000, 60, 5_000, 3, 10_000, 500, 10_000),
    "smoke": Sizes(100, 1_000, 200, 5, 20, 1_000, 200, 1_000, 4, 40, 1, 300, 40, 200),
}


@dataclass(frozen=True)
class Sample:
    ours: float
    references: dict[str, float]  # name -> value, measured in the same repetition
    notes: dict[str, float] = field(default_factory=dict)  # other figures worth reporting


def payload(n: int) -> str:
    """A lead as a CRM would queue it: about 100 bytes of JSON."""
    return json.dumps({"id": n, "email": f"lead{n}@example.com", "name": f"Lead {n}", "source": "csv-import"})


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (type TEXT, payload TEXT)")
    return conn


def fresh_queue(path: Path | Location, urls: list[str], **options: object) -> None:
    """A new dispatcher database at ``path`` (a SQLite file, or a new PostgreSQL schema) with one
    endpoint per URL, every event to each."""
    if not isinstance(path, Location):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(path)
    for url in urls:
        # The receivers listen on 127.0.0.1, which the SSRF guard refuses unless allowed.
        endpoints.add(store, url, secret="bench-secret", allow_private=True, **options)
    store.close()


def delivered_events(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT count(*) FROM deliveries AS d JOIN batches AS b ON b.id = d.batch_id WHERE b.state = 'delivered'"
        ).fetchone()
        return int(row[0])


# --- 1. enqueue one event per call -----------------------------------------------------


def enqueue_one(folder: Path, sizes: Sizes) -> Sample:
    rows = [("lead.created", payload(n)) for n in range(sizes.enqueue)]
    fresh_queue(folder / "ours.db", ["http://127.0.0.1:9/hook"])
    queue = dispatcher.open(folder / "ours.db")
    ours = timed(lambda: [queue.enqueue(event_type, text) for event_type, text in rows])
    queue.close()
    (folder / "raw.db").unlink(missing_ok=True)
    conn = raw_connection(folder / "raw.db")
    reference = timed(lambda: [conn.execute("INSERT INTO events VALUES (?, ?)", row) for row in rows])
    conn.close()
    return Sample(len(rows) / ours, {"raw sqlite3 autocommit inserts": len(rows) / reference})


# --- 1b. enqueue from a shell, one command per event ------------------------------------


def enqueue_shell(folder: Path, sizes: Sizes) -> Sample:
    """`dispatcher enqueue` as a shell script or cron job runs it, next to the sqlite3 shell's INSERT.

    Both write to a dispatcher database with one subscribed endpoint, so both pay for the fan-out,
    with the dispatcher's pragmas (the shell's own default syncs every commit; no ~/.sqliterc); the
    two take turns, each going first every other time, so a passing load weighs on both alike."""
    shell = shutil.which("sqlite3")
    if shell is None:
        raise SystemExit("case 1b needs the sqlite3 shell: apt-get install sqlite3")
    for name in ("ours.db", "shell.db"):
        fresh_queue(folder / name, ["http://127.0.0.1:9/hook"])
    seconds = {"ours": 0.0, "shell": 0.0}
    for n in range(sizes.shell):
        text = payload(n)
        quoted = text.replace("'", "''")
        commands = {
            "ours": [*dispatcher_command(), "--db", str(folder / "ours.db"), "enqueue", "lead.created", text],
            "shell": [
                *(shell, "-init", os.devnull, str(folder / "shell.db")),
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                f"INSERT INTO events (type, payload) VALUES ('lead.created', '{quoted}')",
            ],
        }
        for name in ("ours", "shell") if n % 2 == 0 else ("shell", "ours"):
            seconds[name] += timed(functools.partial(_run_quietly, commands[name]))
    return Sample(sizes.shell / seconds["ours"], {"sqlite3 shell INSERT": sizes.shell / seconds["shell"]})


def dispatcher_command() -> list[str]:
    """The installed console script beside this interpreter, as cron would run it."""
    script = Path(sys.executable).parent / "dispatcher"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dispatcher"]


def _run_quietly(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


# --- 2. bulk enqueue ------------------------------------------------------------------


def enqueue_bulk(folder: Path, sizes: Sizes) -> Sample:
    texts = [payload(n) for n in range(sizes.bulk)]
    fresh_queue(folder / "ours.db", ["http://127.0.0.1:9/hook"])
    queue = dispatcher.open(folder / "ours.db")
    ours = timed(lambda: queue.enqueue_many("lead.created", texts))
    queue.close()
    reference = _raw_bulk(folder, texts)
    return Sample(len(texts) / ours, {"raw executemany, one transaction": len(texts) / reference})


def _raw_bulk(folder: Path, texts: list[str]) -> float:
    """Seconds to insert ``texts`` into a plain table with one executemany in one transaction."""
    (folder / "raw.db").unlink(missing_ok=True)
    conn = raw_connection(folder / "raw.db")

    def raw() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?)", (("lead.created", text) for text in texts))
        conn.execute("COMMIT")

    seconds = timed(raw)
    conn.close()
    return seconds


def import_bulk(folder: Path, sizes: Sizes) -> Sample:
    """`dispatcher import` of a JSON Lines file of the same events, from the library call it makes."""
    path = folder / "events.jsonl"
    path.write_text("".join(payload(n) + "\n" for n in range(sizes.bulk)))
    fresh_queue(folder / "ours.db", ["http://127.0.0.1:9/hook"])
    store = open_store(folder / "ours.db")

    def ours() -> None:
        with importing.open_source(path) as source:
            importing.import_events(store, source, event_type="lead.created")

    seconds = timed(ours)
    store.close()
    reference = _raw_bulk(folder, [payload(n) for n in range(sizes.bulk)])
    return Sample(sizes.bulk / seconds, {"raw executemany, one transaction": sizes.bulk / reference})


# --- 3. drain to a zero-latency receiver --------------------------------------------------


def drain_fast(folder: Path, sizes: Sizes) -> Sample:
    path = folder / "ours.db"
    with fast_receiver() as (url, _):
        fresh_queue(path, [url])
        dispatcher.open(path).enqueue_many("lead.created", [payload(n) for n in range(sizes.drain)])
        ours = timed(lambda: run(path, RunOptions(time_limit=600, workers=1)))
        assert delivered_events(path) == sizes.drain, "the drain did not deliver everything"
        bodies = [batch_body(start) for start in range(0, sizes.drain, 10)]
        with requests.Session() as session:
            bare = timed(lambda: post_all(session, url, bodies))
    requests_per_s = len(bodies) / bare
    return Sample(
        sizes.drain / ours,
        {"10 x a bare requests.Session().post loop": 10 * requests_per_s},
        {"bare loop requests/s": requests_per_s, "dispatcher requests/s": sizes.drain / 10 / ours},
    )


def post_all(session: requests.Session, url: str, bodies: list[bytes]) -> None:
    """The reference: a bare loop of posts, nothing else."""
    for body in bodies:
        status = session.post(url, data=body).status_code
        assert status == 200, f"the receiver answered {status}"


def batch_body(start: int) -> bytes:
    """A body the size of a dispatcher batch of 10."""
    events = [
        {"id": n, "type": "lead.created", "timestamp": "2026-11-22T10:00:00.000Z", "data": json.loads(payload(n))}
        for n in range(start, start + 10)
    ]
    return json.dumps({"batch_id": "0b6f3c1e-6a52-4b8e-9a57-2f6f0d1f4c3a", "events": events}).encode()


# --- 4. twenty endpoints answering after 100 ms --------------------------------------------


def drain_slow(folder: Path, sizes: Sizes) -> Sample:
    path = folder / "ours.db"
    with delayed_receiver(SLOW_LATENCY) as url:
        urls = [f"{url}/{n}" for n in range(SLOW_ENDPOINTS)]
        fresh_queue(path, urls)
        dispatcher.open(path).enqueue_many("lead.created", [payload(n) for n in range(sizes.slow_events)])
        ours = timed(lambda: run(path, RunOptions(time_limit=600, workers=SLOW_WORKERS)))
        deliveries = sizes.slow_events * SLOW_ENDPOINTS
        assert delivered_events(path) == deliveries, "the drain did not deliver everything"
        references = {"serial, one batch at a time (Mautic's command)": _serial(folder, urls, sizes.slow_reference)}
        huey = _huey(folder, url, sizes.slow_reference)
        if huey is not None:
            references[f"huey, SqliteHuey, {HUEY_THREADS} threads, one event per task"] = huey
    return Sample(deliveries / ours, references)


def _serial(folder: Path, urls: list[str], deliveries: int) -> float:
    """Mautic's model: one loop takes 10 queued rows, POSTs them, deletes them, and so on."""
    conn = raw_connection(folder / "serial.db")
    conn.execute("DROP TABLE IF EXISTS queue")
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, url TEXT, payload TEXT)")
    conn.executemany(
        "INSERT INTO queue (url, payload) VALUES (?, ?)", ((urls[n % len(urls)], payload(n)) for n in range(deliveries))
    )

    def drain() -> None:
        with requests.Session() as session:
            for url in urls:
                while rows := conn.execute("SELECT id, payload FROM queue WHERE url = ? LIMIT 10", (url,)).fetchall():
                    body = "[" + ",".join(text for _, text in rows) + "]"
                    session.post(url, data=body, timeout=10).raise_for_status()
                    conn.executemany("DELETE FROM queue WHERE id = ?", ((row_id,) for row_id, _ in rows))

    seconds = timed(drain)
    conn.close()
    return deliveries / seconds


def _huey(folder: Path, url: str, deliveries: int) -> float | None:
    """What a Python user would otherwise pick: a task queue, one HTTP request per event."""
    try:
        from huey import SqliteHuey  # type: ignore[import-untyped]
        from huey.consumer import Consumer  # type: ignore[import-untyped]
    except ImportError:
        return None
    huey = SqliteHuey(filename=str(folder / "huey.db"))
    huey.flush()
    sent = threading.Semaphore(0)
    session_of = threading.local()

    @huey.task()  # type: ignore[untyped-decorator]
    def post(body: str) -> None:
        session = getattr(session_of, "session", None) or requests.Session()
        session_of.session = session
        session.post(url, data=body, timeout=10).raise_for_status()
        sent.release()

    class InThread(Consumer):  # type: ignore[misc]
        def _set_signal_handlers(self) -> None:
            pass  # signals are the main thread's, and the benchmark's own

    start = time.perf_counter()
    for n in range(deliveries):
        post(payload(n))
    consumer = InThread(huey, workers=HUEY_THREADS, worker_type="thread", periodic=False, initial_delay=0.01)
    consumer.start()
    for _ in range(deliveries):
        sent.acquire(timeout=60)
    seconds = time.perf_counter() - start
    consumer.stop(graceful=True)
    return deliveries / seconds


# --- 7. what --workers does, for choosing it -----------------------------------------


def workers_slow(folder: Path, sizes: Sizes) -> Sample:
    """20 endpoints answering in 100 ms: the default --workers next to fewer and more."""
    with delayed_receiver(SLOW_LATENCY) as url:
        urls = [f"{url}/{n}" for n in range(SLOW_ENDPOINTS)]
        rates = {workers: _drain_rate(folder, urls, sizes.slow_events, workers) for workers in (DEFAULT_WORKERS, 4, 16)}
    return Sample(rates[DEFAULT_WORKERS], {f"{workers} workers": rates[workers] for workers in (4, 16)})


def workers_fast(folder: Path, sizes: Sizes) -> Sample:
    """4 endpoints answering at once: the default --workers next to 1 and 4."""
    with fast_receiver() as (url, _):
        urls = [f"{url}?endpoint={n}" for n in range(4)]
        events = sizes.drain // 4
        rates = {workers: _drain_rate(folder, urls, events, workers) for workers in (DEFAULT_WORKERS, 1, 4)}
    return Sample(rates[DEFAULT_WORKERS], {f"{workers} workers": rates[workers] for workers in (1, 4)})


def _drain_rate(folder: Path, urls: list[str], events: int, workers: int) -> float:
    path = folder / "workers.db"
    fresh_queue(path, urls)
    dispatcher.open(path).enqueue_many("lead.created", [payload(n) for n in range(events)])
    seconds = timed(lambda: run(path, RunOptions(time_limit=600, workers=workers)))
    assert delivered_events(path) == events * len(urls), "the drain did not deliver everything"
    return events * len(urls) / seconds


# --- 5. the cost of claiming next to a large history ------------------------------------------


def claim_with_history(folder: Path, sizes: Sizes) -> Sample:
    with fast_receiver() as (url, _):
        rates = {}
        for name, history in (("with history", sizes.history), ("empty", 0)):
            path = folder / f"{name.replace(' ', '-')}.db"
            if not path.exists():
                fresh_queue(path, [url])
                _add_history(path, history)
            _point_at(path, url)
            dispatcher.open(path).enqueue_many("lead.created", [payload(n) for n in range(sizes.history_drain)])
            before = delivered_events(path)
            seconds = timed(lambda path=path: run(path, RunOptions(time_limit=600, workers=1)))  # type: ignore[misc]
            assert delivered_events(path) - before == sizes.history_drain, "the drain did not deliver what it should"
            rates[name] = sizes.history_drain / seconds
    return Sample(rates["with history"], {"the same drain with empty tables": rates["empty"]})


def _add_history(path: Path, count: int) -> None:
    """``count`` delivered events, in batches of 10, written with plain SQL (building them by HTTP takes long)."""
    with sqlite3.connect(path) as conn:
        # Kept, not pruned at the end of each measured run: the history is what is measured against.
        conn.execute("INSERT INTO config (key, value) VALUES ('retention', 'none')")
    if not count:
        return
    queue = dispatcher.open(path)
    queue.enqueue_many("lead.created", (payload(n) for n in range(count)))
    queue.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO batches (id, endpoint_id, event_ids, state, attempts, due_at, created_at, finished_at) "
            "SELECT 'h' || ((event_id - 1) / 10), endpoint_id, json_group_array(event_id), 'delivered', 1, "
            "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' "
            "FROM pending GROUP BY (event_id - 1) / 10, endpoint_id"
        )
        conn.execute(
            "INSERT INTO deliveries (endpoint_id, event_id, batch_id) "
            "SELECT endpoint_id, event_id, 'h' || ((event_id - 1) / 10) FROM pending"
        )
        conn.execute("DELETE FROM pending")
        conn.execute(
            "INSERT INTO attempts (endpoint_id, batch_id, started_at, duration_ms, ok, status_code) "
            "SELECT endpoint_id, id, created_at, 1, 1, 200 FROM batches"
        )
        conn.execute("ANALYZE")
    assert delivered_events(path) == count, "the history was not built"


def _point_at(path: Path, url: str) -> None:
    """A database kept from an earlier repetition, aimed at this repetition's receiver."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE endpoints SET url = ?", (url,))


# --- 6. memory while draining a large queue --------------------------------------------------


def memory(folder: Path, sizes: Sizes) -> Sample:
    """Peak RSS of a real `dispatcher process`, in MB, draining everything queued."""
    path = folder / "memory.db"
    with fast_receiver() as (url, _):
        fresh_queue(path, [url], batch_size=100)
        dispatcher.open(path).enqueue_many("lead.created", (payload(n) for n in range(sizes.memory)))
        command = [sys.executable, "-m", "dispatcher", "--db", str(path), "process", "--time-limit", "1h", "--quiet"]
        start = time.perf_counter()
        child = subprocess.Popen(command)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, f"dispatcher process exited {child.returncode}"
    assert delivered_events(path) == sizes.memory, "the drain did not deliver everything"
    peak_mb = usage.ru_maxrss / 1024  # Linux reports kilobytes
    return Sample(peak_mb, {"the limit": MEMORY_LIMIT_MB}, {"events/s": sizes.memory / seconds})
