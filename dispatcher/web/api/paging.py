"""Cursor paging, the same for every list of the API (as Svix, Convoy, Hook0 and Outpost page).

A list answers ``{data, next_cursor}``; ``next_cursor`` is null on the last page. The cursor is
opaque to clients: the position after which the next page starts (an id), base64-encoded so
nobody builds one by hand and we may change what is inside.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from ..problems import Problem

Item = TypeVar("Item")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 1000).")]
Cursor = Annotated[str | None, Query(description="The `next_cursor` of the previous page.")]


class Page(BaseModel, Generic[Item]):
    data: list[Item]
    next_cursor: str | None


Position = int | tuple[int, int]  # an id, or a pair of ids for lists keyed by two


def encode(position: Position) -> str:
    text = str(position) if isinstance(position, int) else f"{position[0]}.{position[1]}"
    return base64.urlsafe_b64encode(f"v1:{text}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int | None:
    """The position a cursor stands for; None for the first page. A cursor we did not make is a 422."""
    position = _position(cursor)
    if position is None or position.isdigit():
        return None if position is None else int(position)
    raise _invalid()


def decode_pair(cursor: str | None) -> tuple[int, int] | None:
    """As :func:`decode`, for a list whose position is a pair of ids."""
    position = _position(cursor)
    if position is None:
        return None
    first, dot, second = position.partition(".")
    if dot and first.isdigit() and second.isdigit():
        return int(first), int(second)
    raise _invalid()


def _invalid() -> Problem:
    return Problem(422, "invalid cursor: pass the next_cursor of the previous page unchanged")


def _position(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        version, _, position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid() from None
    if version != "v1":
        raise _invalid()
    return position


def page(items: list[Item], limit: int, position_of: Callable[[Item], Position]) -> Page[Item]:
    """A page of ``items`` fetched with ``limit + 1`` (one more than asked, to know whether more follow)."""
    more = len(items) > limit
    kept = items[:limit]
    return Page(data=kept, next_cursor=encode(position_of(kept[-1])) if more and kept else None)
