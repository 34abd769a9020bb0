"""Request bodies, one function per format. Stored payload text is embedded as is, never re-parsed.

- ``batch`` (the default): ``{"batch_id", "events": [{"id", "type", "timestamp", "data"}, ...]}``.
- ``mautic``: Mautic's queued wire shape, for receivers written against Mautic:
  ``{"<type>": [payload, ...], ...}``, each object payload with Mautic's
  ``"timestamp"`` added.
- ``raw``: one event per request, the body its payload byte for byte, so a
  producer can emit whatever envelope a receiver expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

from ..clock import to_text
from ..errors import DispatcherError
from ..models import Batch, Event


def render_batch(batch: Batch) -> bytes:
    events = ",".join(
        f'{{"id":{event.id},"type":{_quoted(event.type)},'
        f'"timestamp":"{to_text(event.created_at)}","data":{event.payload}}}'
        for event in batch.events
    )
    return f'{{"batch_id":{_quoted(batch.id)},"events":[{events}]}}'.encode()


_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \: what json.dumps leaves as it is


def _quoted(text: str) -> str:
    """``json.dumps(text)``, without its cost for the usual type names and timestamps."""
    return f'"{text}"' if _PLAIN.fullmatch(text) else json.dumps(text)


def render_mautic(batch: Batch) -> bytes:
    """Grouped by type in order of first appearance; each group keeps the batch's order."""
    groups: dict[str, list[str]] = {}
    for event in batch.events:
        groups.setdefault(event.type, []).append(_with_mautic_timestamp(event))
    body = ",".join(f"{json.dumps(type_)}:[{','.join(payloads)}]" for type_, payloads in groups.items())
    return f"{{{body}}}".encode()


def mautic_timestamp(created_at: datetime) -> str:
    """A queue time as Mautic writes it (PHP's ``format('c')``): ``2026-11-22T10:00:00+00:00``."""
    return f"{to_text(created_at)[:19]}+00:00"


def _with_mautic_timestamp(event: Event) -> str:
    """The payload with ``"timestamp"`` added as the last key, spliced into the stored text.

    Mautic sets the key on the decoded payload, overwriting one of the
    producer's own; as the last key, ours is the one JSON parsers keep.
    """
    text = event.payload.strip()
    if not text.startswith("{"):
        return event.payload  # an array payload has nowhere to put it
    inner = text[1:-1]
    separator = "," if inner.strip() else ""
    return f'{{{inner}{separator}"timestamp":"{mautic_timestamp(event.created_at)}"}}'


def render_raw(batch: Batch) -> bytes:
    if len(batch.events) != 1:
        raise DispatcherError(f"the raw format sends one event per request, not {len(batch.events)}")
    return batch.events[0].payload.encode()


RENDERERS: dict[str, Callable[[Batch], bytes]] = {
    "batch": render_batch,
    "mautic": render_mautic,
    "raw": render_raw,
}
FORMATS = tuple(RENDERERS)


def check_format(name: str) -> str:
    if name not in RENDERERS:
        raise DispatcherError(f"unknown format {name!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return name


def render(batch: Batch, format: str) -> bytes:
    return RENDERERS[check_format(format)](batch)
