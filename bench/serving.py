"""Case 8: `POST /api/v1/events` against a real `dispatcher serve`, 4 clients with keep-alive.

The server runs as a process of its own, as in production; the clients are threads of this
process, each holding one HTTP/1.1 connection (http.client: requests' Session costs as much
again per call on loopback, and the clients must not be what is measured).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from dispatcher import api_keys
from dispatcher.clock import SystemClock
from dispatcher.store import open_store

from .cases import Sample, Sizes, dispatcher_command, fresh_queue, payload, raw_connection, timed

CLIENTS = 4
_LISTENING = re.compile(r"listening on (http://\S+)")


def post_events(folder: Path, sizes: Sizes) -> Sample:
    path = folder / "served.db"
    fresh_queue(path, ["http://127.0.0.1:9/hook"])  # one subscriber: each event is queued for it
    store = open_store(path)
    key = api_keys.create(store, SystemClock().now(), "bench").text
    store.close()
    bodies = [json.dumps({"type": "lead.created", "payload": json.loads(payload(n))}) for n in range(sizes.served)]
    server, url = _serve(path)
    try:
        warm_up = bodies[: CLIENTS * 20]  # connections, imports, the key's first use
        _post(url, key, warm_up, [])
        latencies: list[float] = []
        seconds = timed(lambda: _clients(url, key, bodies, latencies))
    finally:
        server.terminate()
        server.communicate(timeout=60)
    queued = _count(path, "SELECT count(*) FROM events")
    assert queued == len(bodies) + len(warm_up), f"{queued} events queued, not {len(bodies) + len(warm_up)}"
    latencies.sort()
    (folder / "raw.db").unlink(missing_ok=True)
    conn = raw_connection(folder / "raw.db")
    rows = [("lead.created", payload(n)) for n in range(sizes.served)]
    reference = timed(lambda: [conn.execute("INSERT INTO events VALUES (?, ?)", row) for row in rows])
    conn.close()
    return Sample(
        len(bodies) / seconds,
        {"raw sqlite3 autocommit inserts": len(rows) / reference},
        {
            "p50 latency ms": 1000 * statistics.median(latencies),
            "p95 latency ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        },
    )


def _serve(path: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*dispatcher_command(), "--db", str(path), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    for line in server.stdout:
        found = _LISTENING.search(line)
        if found:
            return server, found.group(1)
    server.wait(timeout=60)
    raise SystemExit(f"dispatcher serve exited {server.returncode} without listening")


def _clients(url: str, key: str, bodies: list[str], latencies: list[float]) -> None:
    shares = [bodies[n::CLIENTS] for n in range(CLIENTS)]
    failures: list[BaseException] = []

    def client(share: list[str]) -> None:
        try:
            _post(url, key, share, latencies)
        except BaseException as failure:  # a thread's exception is only printed: hand it to the case
            failures.append(failure)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a client failed: {failures[0]!r}")


def _post(url: str, key: str, bodies: list[str], latencies: list[float]) -> None:
    """One client: one kept-alive connection, one request after the other, each one timed."""
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    mine = []
    try:
        for body in bodies:
            start = time.perf_counter()
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read()
            mine.append(time.perf_counter() - start)
            if answer.status != 201:
                raise SystemExit(f"POST /api/v1/events answered {answer.status}: {text[:300]!r}")
    finally:
        conn.close()
    latencies.extend(mine)  # list.extend is atomic under the GIL


def _count(path: Path, sql: str) -> int:
    conn = raw_connection(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()
