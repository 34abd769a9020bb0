"""Store methods made of other store methods only, written once for every backend."""

from __future__ import annotations

from datetime import datetime

from ..models import Attempt
from .protocol import Store


class Derived:
    """A mixin of each backend's store class; ``self`` is typed as the whole store, which its
    methods call."""

    def attempts(
        self: Store,
        endpoint_id: int | None = None,
        status: int | str | None = None,
        event_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Attempt]:
        return self.attempts_page(endpoint_id, status, event_id, since, until, limit=limit)[::-1]
