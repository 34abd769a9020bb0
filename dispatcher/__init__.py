"""dispatcher: a queued, batched webhook sender backed by one SQLite file.

Producers::

    import dispatcher
    queue = dispatcher.open("dispatcher.db")
    queue.enqueue("lead.created", {"id": 1})

Receivers::

    dispatcher.verify(body, headers, secrets=["my-secret"])
"""

from __future__ import annotations

import importlib

from .errors import DispatcherError

__version__ = "0.5.0"

TYPE_CHECKING = False  # as typing.TYPE_CHECKING; typing is not imported on `dispatcher enqueue`'s short way
if TYPE_CHECKING:
    from typing import Any

    from .producer import Queue, Queued, enqueue, open
    from .signing import SignatureError, verify

# Imported on first use (PEP 562): a receiver that only verifies, or `dispatcher enqueue` run once
# per event, does not pay for the store and sqlite-utils, nor the store for the signing code.
_LAZY = {
    "Queue": "producer",
    "Queued": "producer",
    "enqueue": "producer",
    "open": "producer",
    "SignatureError": "signing",
    "verify": "signing",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = ["DispatcherError", "Queue", "Queued", "SignatureError", "__version__", "enqueue", "open", "verify"]
