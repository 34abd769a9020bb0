"""Statements of the HTTP API's events: queueing them once per idempotency key, and one event's story."""

from __future__ import annotations

from .connection import Connection


class Events(Connection):
    pass
