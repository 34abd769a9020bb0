"""Statements of recovery: dead letters, replay, pruning."""

from __future__ import annotations

from .connection import Connection


class Recovering(Connection):
    pass
