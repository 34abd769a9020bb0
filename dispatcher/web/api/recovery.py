"""GET /api/v1/dead, POST /api/v1/replay and GET /api/v1/status: what `dead`, `replay` and `status` do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ... import filters, recovery
from ...models import DeadLetter, EndpointStatus, Selection
from ..auth import Reader, StoreDep, Writer, now
from ..problems import Problem, responses
from .paging import DEFAULT_LIMIT, Cursor, Limit, Page, decode_pair, page

router = APIRouter(tags=["recovery"])

TIME_HELP = "ISO 8601 (2026-11-22T10:00:00Z), or a duration ago (2h, 7d); the event's queue time."
TYPE_HELP = "Events of this type, or of types matching this pattern (lead.*)."


@router.get("/dead", responses=responses(401, 404, 422))
def list_dead(
    request: Request,
    store: StoreDep,
    key: Reader,
    webhook_id: Annotated[int | None, Query(ge=1, lt=2**63, description="Only this webhook's.")] = None,
    type: Annotated[str | None, Query(description=TYPE_HELP)] = None,
    since: Annotated[str | None, Query(description=TIME_HELP)] = None,
    until: Annotated[str | None, Query(description=TIME_HELP)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DeadLetter]:
    """Dead deliveries, newest event first: events an endpoint will not get unless replayed."""
    selection = filters.dead_selection(webhook_id, type, since, until, now(request))
    found = store.dead_page(selection, before=decode_pair(cursor), limit=limit + 1)
    return page(found, limit, lambda dead: (dead.event_id, dead.endpoint))


class ReplayIn(BaseModel):
    """The filters of `dispatcher replay`; at least one is needed. Only delivered or dead deliveries
    are replayed: one queued or in flight is never sent twice."""

    model_config = ConfigDict(extra="forbid")
    event_id: int | None = Field(None, ge=1, lt=2**63, description="This event's deliveries.")
    webhook_id: int | None = Field(None, ge=1, lt=2**63, description="This webhook's deliveries.")
    dead: bool = Field(False, description="Only dead deliveries.")
    type: str | None = Field(None, min_length=1, description=TYPE_HELP)
    since: str | None = Field(None, description=TIME_HELP)
    until: str | None = None
    dry_run: bool = Field(False, description="Only count what would be replayed.")


class Replayed(BaseModel):
    count: int = Field(description="Deliveries replayed, or with dry_run, that would be.")
    dry_run: bool


@router.post("/replay", responses=responses(401, 403, 404, 422))
def replay(request: Request, store: StoreDep, key: Writer, body: ReplayIn) -> Replayed:
    """Send delivered or dead deliveries again, as fresh work (their history stays)."""
    at = now(request)
    selection = Selection(
        event_id=body.event_id,
        endpoint_id=body.webhook_id,
        dead_only=body.dead,
        since=filters.moment("since", body.since, at),
        until=filters.moment("until", body.until, at),
        event_type=body.type,
    )
    if selection.is_empty():
        raise Problem(422, "replay needs a filter: event_id, webhook_id, dead, type, since or until")
    if body.dry_run:
        return Replayed(count=recovery.count_replayable(store, selection), dry_run=True)
    return Replayed(count=recovery.replay(store, selection), dry_run=False)


@router.get(
    "/status",
    responses=responses(401),
    description="One entry per endpoint: what is pending, delivered, dead, and its health. A plain JSON "
    "list, exactly what `dispatcher status --json` prints (not paged: one entry per endpoint).",
)
def status(request: Request, store: StoreDep, key: Reader) -> list[EndpointStatus]:
    return store.status(now(request))
