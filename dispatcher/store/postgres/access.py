"""Statements of the HTTP API's keys and the admin UI's sessions."""

from __future__ import annotations

from .connection import Connection


class Access(Connection):
    pass
