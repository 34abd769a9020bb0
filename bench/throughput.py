"""Cases 9 and 9b: what an endpoint's ``concurrency`` buys, next to the one-batch-at-a-time drain.

Case 9 is the CSV import the issue describes: everything queued at once for one receiver that takes
100 ms per request. Case 9b is the same setting against a receiver answering at once, where the
question is whether several batches in flight, on both cores, keep up with a bare loop of posts.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

import dispatcher
from dispatcher.delivery import RunOptions, run

from .cases import (
    SLOW_LATENCY,
    Sample,
    Sizes,
    batch_body,
    delivered_events,
    dispatcher_command,
    fresh_queue,
    payload,
    post_all,
    timed,
)
from .receivers import delayed_receiver, fast_receiver

IMPORT_CONCURRENCY = 16
IMPORT_WORKERS = 16
FAST_CONCURRENCY = 4
FAST_WORKERS = 2  # one per process: measured faster than 4 or 8 (see drain_concurrent)
FAST_PROCESSES = 2


# --- 9. an import to one slow endpoint -----------------------------------------------------


def import_slow(folder: Path, sizes: Sizes) -> Sample:
    """An import queued with enqueue_many for one endpoint answering after 100 ms, at concurrency 16.

    Ours is a real ``dispatcher process --workers 16`` in a process of its own, as cron runs it: its
    wall time includes its start (about half a second, under 1% of the full-size run), and the same
    run gives its peak RSS. The reference is today's behaviour, the endpoint at concurrency 1 drained
    by ``run()`` with 16 workers in this process, so it pays no start: both choices favour the reference.
    At concurrency 1 one request is in flight, so the rate is steady at about 10 events per 100 ms
    whatever the queue's length; it is measured on a smaller queue (``sizes.import_reference``
    events), since the full import would take 17 minutes that way.
    """
    with delayed_receiver(SLOW_LATENCY) as url:
        path = folder / "concurrent.db"
        fresh_queue(path, [url], concurrency=IMPORT_CONCURRENCY)
        _queue(path, sizes.import_events)
        seconds, peak_mb = _process_in_child(path, IMPORT_WORKERS)
        assert delivered_events(path) == sizes.import_events, "the drain did not deliver everything"

        reference = folder / "strict.db"
        fresh_queue(reference, [url])
        _queue(reference, sizes.import_reference)
        strict = timed(lambda: run(reference, RunOptions(time_limit=600, workers=IMPORT_WORKERS)))
        assert delivered_events(reference) == sizes.import_reference, "the reference did not deliver everything"
    return Sample(
        sizes.import_events / seconds,
        {"concurrency 1 (today), 16 workers": sizes.import_reference / strict},
        {
            f"peak RSS MB, dispatcher process --workers {IMPORT_WORKERS}": peak_mb,
            "events drained at concurrency 1 (a sample: its rate is steady)": sizes.import_reference,
        },
    )


def _process_in_child(path: Path, workers: int) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``dispatcher process`` draining ``path``."""
    command = [*dispatcher_command(), "--db", str(path), "process", "--workers", str(workers)]
    command += ["--time-limit", "600", "--quiet"]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=_same_dispatcher_env())
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, f"dispatcher process exited {child.returncode}"
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


def _same_dispatcher_env() -> dict[str, str]:
    """The environment with the ``dispatcher`` package this process measures first on the path, so
    the child runs the same code even where the installed one is another checkout's."""
    source = str(Path(dispatcher.__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source if not rest else f"{source}{os.pathsep}{rest}"}


# --- 9b. several batches in flight to a zero-latency receiver ---------------------------------


def drain_concurrent(folder: Path, sizes: Sizes) -> Sample:
    """One endpoint at concurrency 4 drained by ``run()`` with 2 workers in 2 processes, next to case 3's
    bare loop of posts and to today's strict drain (concurrency 1, 1 worker, 1 process).

    Of the settings tried on 2 shared cores (medians of 5, 20,000 events, as a share of the bare
    loop): 2 workers in 2 processes 0.75-0.84x, 4 in 2 processes 0.65-0.72x, 8 in 2 processes
    0.66x, 4 in 1 process 0.64x, and the strict drain 0.71-0.84x. More than one worker per process
    makes its threads take turns at the GIL and at the process's write lock; the second process
    pays its start (about 0.4 s here, in the timing as it is in ``dispatcher process --processes
    2``) and gains only when the second core is free.
    """
    events = sizes.concurrent_drain
    with fast_receiver() as (url, _):
        path = folder / "concurrent.db"
        fresh_queue(path, [url], concurrency=FAST_CONCURRENCY)
        _queue(path, events)
        options = RunOptions(time_limit=600, workers=FAST_WORKERS, processes=FAST_PROCESSES)
        ours = timed(lambda: run(path, options))
        assert delivered_events(path) == events, "the drain did not deliver everything"

        reference = folder / "strict.db"
        fresh_queue(reference, [url])
        _queue(reference, events)
        strict = timed(lambda: run(reference, RunOptions(time_limit=600, workers=1)))
        assert delivered_events(reference) == events, "the strict drain did not deliver everything"

        bodies = [batch_body(start) for start in range(0, events, 10)]
        with requests.Session() as session:
            bare = timed(lambda: post_all(session, url, bodies))
    bare_rate = 10 * len(bodies) / bare
    return Sample(
        events / ours,
        {"10 x a bare requests.Session().post loop": bare_rate, "today's strict drain (1, 1, 1)": events / strict},
        {"today's strict drain / bare loop": events / strict / bare_rate, "dispatcher requests/s": events / 10 / ours},
    )


def _queue(path: Path, events: int) -> None:
    queue = dispatcher.open(path)
    queue.enqueue_many("lead.created", (payload(n) for n in range(events)))
    queue.close()
