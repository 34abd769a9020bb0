"""Statements behind /metrics and the dashboard's figures."""

from __future__ import annotations

from .connection import Connection


class Measuring(Connection):
    pass
