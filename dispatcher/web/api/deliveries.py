"""The attempt log: GET /api/v1/webhooks/deliveries/ (the seed's path, without its slash too) and
one attempt in full. Included before the webhooks' routes, so `deliveries` is never taken for an id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from ... import filters
from ...attempt_detail import AttemptDetail, attempt_detail
from ...models import Attempt
from ...store import Store
from ..auth import Reader, StoreDep, now
from ..problems import responses
from .paging import DEFAULT_LIMIT, Cursor, Limit, Page, decode, page

router = APIRouter(tags=["deliveries"])

Id = Annotated[int | None, Query(ge=1, lt=2**63)]
Time = Annotated[str | None, Query(description="ISO 8601 (2026-11-22T10:00:00Z), or a duration ago (2h, 7d).")]


def attempt_log(store: Store, chosen: filters.AttemptFilter, cursor: str | None, limit: int) -> Page[Attempt]:
    """A page of the attempt log, newest first: for the API and the admin page alike."""
    found = store.attempts_page(
        chosen.endpoint_id,
        chosen.status,
        chosen.event_id,
        chosen.since,
        chosen.until,
        before=decode(cursor),
        limit=limit + 1,
    )
    return page(found, limit, lambda attempt: attempt.id)


def list_deliveries(
    request: Request,
    store: StoreDep,
    key: Reader,
    webhook_id: Annotated[int | None, Query(ge=1, lt=2**63, description="Only this webhook's (endpoint's).")] = None,
    event_id: Annotated[int | None, Query(ge=1, lt=2**63, description="Only requests carrying this event.")] = None,
    status: Annotated[
        str | None, Query(pattern=r"^(ok|failed|[1-5][0-9][0-9])$", description="ok, failed or an HTTP status code.")
    ] = None,
    since: Time = None,
    until: Time = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Attempt]:
    """The attempt log, newest first: one entry per HTTP request made (test requests included)."""
    chosen = filters.attempt_filter(webhook_id, event_id, status, since, until, now(request))
    return attempt_log(store, chosen, cursor, limit)


# Both spellings, each answered directly: a 307 to the other would leave curl without -L empty-handed.
for path, operation in (("/webhooks/deliveries/", "list_deliveries"), ("/webhooks/deliveries", "list_deliveries_")):
    router.add_api_route(
        path,
        list_deliveries,
        methods=["GET"],
        operation_id=operation,
        responses=responses(401, 404, 422),
        summary="List deliveries" if operation == "list_deliveries" else "List deliveries (without the slash)",
    )


@router.get("/webhooks/deliveries/{attempt_id}", responses=responses(401, 404, 422))
def get_delivery(store: StoreDep, key: Reader, attempt_id: Annotated[int, Path(ge=1, lt=2**63)]) -> AttemptDetail:
    """One attempt: the request as sent (line, headers, the body rebuilt) and the response as it came."""
    return attempt_detail(store, attempt_id)
