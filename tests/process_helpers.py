"""Plain helpers for the tests that drive the process loop through the library: an endpoint on a
test receiver, events in the queue, and a receiver that answers as scripted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dispatcher import endpoints
from dispatcher.queue import open as open_queue
from dispatcher.store import Store

from .helpers import SECRET


def add_endpoint(store: Store, server: HTTPServer, path: str = "/hook", **options: Any) -> int:
    return endpoints.add(store, server.url_for(path), secret=SECRET, **options).id


def enqueue(db_path: Path, count: int, event_type: str = "lead.created") -> list[int]:
    with open_queue(db_path) as queue:
        return [queue.enqueue(event_type, {"n": n}) for n in range(count)]


def answers(*statuses: int) -> Callable[[Request], Response]:
    """A handler answering with these statuses in turn, then 200."""
    remaining = list(statuses)

    def handle(request: Request) -> Response:
        return Response(status=remaining.pop(0) if remaining else 200)

    return handle
