"""Statements of people looking: status, attempts, one attempt's record."""

from __future__ import annotations

from .connection import Connection


class Inspecting(Connection):
    pass
