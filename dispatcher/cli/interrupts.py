"""Ctrl-C and SIGTERM during `process`: the first stops the run cleanly, a second ends it at once.

Only the CLI touches signal handlers; the library is told through a plain
:class:`threading.Event`.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM)
STOPPING_MESSAGE = b"stopping once the requests in flight are done (interrupt again to quit at once)\n"
AT_ONCE_MESSAGE = b"Error: quit at once; the requests in flight are sent again once their lease runs out\n"


class Interrupts:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signal: int | None = None  # the first one received

    def exit_status(self) -> int | None:
        """The shell's status for the signal that stopped the run (130 for SIGINT, 143 for SIGTERM)."""
        return None if self.signal is None else 128 + self.signal

    def handle(self, signum: int, frame: FrameType | None) -> None:
        # The messages bypass sys.stderr: a handler may run while the main thread is inside a print.
        if self.signal is not None:
            # Someone will not wait for the requests in flight. Leaving now, without the
            # executor's joins, is safe: each of them is still covered by its lease.
            os.write(2, AT_ONCE_MESSAGE)
            os._exit(128 + signum)
        self.signal = signum
        self.stop.set()
        os.write(2, STOPPING_MESSAGE)


@contextmanager
def stop_on_signals() -> Iterator[Interrupts]:
    """Turn SIGINT and SIGTERM into a stop request while the block runs; restore the handlers after."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts  # only the main thread may set handlers; whoever runs us there has its own
        return
    previous = {signum: signal.signal(signum, interrupts.handle) for signum in STOPPING}
    try:
        yield interrupts
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
