"""dispatcher: a queued, batched webhook sender backed by one SQLite file.

Producers::

    import dispatcher
    queue = dispatcher.open("dispatcher.db")
    queue.enqueue("lead.created", {"id": 1})

Receivers::

    dispatcher.verify(body, headers, secrets=["my-secret"])
"""

__version__ = "0.2.0"

from .errors import DispatcherError  # noqa: E402
from .queue import Queue, enqueue, open  # noqa: E402
from .signing import SignatureError, verify  # noqa: E402

__all__ = ["DispatcherError", "Queue", "SignatureError", "__version__", "enqueue", "open", "verify"]
