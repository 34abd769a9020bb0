"""The values only the store's interface passes besides the domain models: a claimed batch, an
endpoint with work, events staged by a bulk import, and what to write to an endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..models import Batch, DeliverySettings, Endpoint


@dataclass(frozen=True)
class EndpointChange:
    """What to write to an endpoint (Store.change_endpoint): settings by name, and when the batch
    waiting for its retry becomes due (None: it waits on)."""

    fields: dict[str, Any]
    due_at: datetime | None = None


class Claim(NamedTuple):
    """A batch leased to its sender, with its endpoint and the settings it is sent under."""

    endpoint: Endpoint
    settings: DeliverySettings
    batch: Batch


@dataclass(frozen=True)
class Due:
    """An endpoint with work: from when it may start a batch, and how many more it may have in flight."""

    endpoint_id: int
    due_at: datetime
    free: int


@dataclass(frozen=True)
class Staged:
    """Events a bulk import has written but no endpoint gets yet (Store.stage_events)."""

    token: str  # the store's own: which events they are, in its terms
    count: int
