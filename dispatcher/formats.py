"""Request bodies. Stored payload text is embedded as is, never re-parsed."""

from __future__ import annotations

import json

from .models import Batch


def render_batch(batch: Batch) -> bytes:
    """``{"batch_id": ..., "events": [{"id", "type", "timestamp", "data"}, ...]}``."""
    events = ",".join(
        f'{{"id":{event.id},"type":{json.dumps(event.type)},'
        f'"timestamp":{json.dumps(event.created_at)},"data":{event.payload}}}'
        for event in batch.events
    )
    return f'{{"batch_id":{json.dumps(batch.id)},"events":[{events}]}}'.encode()
