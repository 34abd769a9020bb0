"""Statements of the API's webhooks view: endpoints page by page, recent event types."""

from __future__ import annotations

from .connection import Connection


class Webhooks(Connection):
    pass
