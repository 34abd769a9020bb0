"""Statements of the producer and admin side: events, staging, endpoints, config."""

from __future__ import annotations

from .connection import Connection


class Producing(Connection):
    pass
