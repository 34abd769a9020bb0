"""Batch ids: UUIDs that sort by the time they were made."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime


def time_ordered_id(now: datetime) -> str:
    """A UUID version 7: milliseconds first, so new batches append to the end of the key's index
    instead of landing on a random page, then 74 random bits."""
    random_bits = secrets.randbits(74)
    value = (
        (int(now.timestamp() * 1000) << 80)
        | (0x7 << 76)
        | ((random_bits >> 62) << 64)
        | (0b10 << 62)
        | (random_bits & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))
