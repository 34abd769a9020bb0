"""The delivery loop's statements: due endpoints, claims under leases with FOR UPDATE SKIP LOCKED, outcomes."""

from __future__ import annotations

from .connection import Connection


class Delivering(Connection):
    pass
