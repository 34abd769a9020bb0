"""POST /api/v1/events (one, or in bulk), GET /api/v1/events/{id}: queueing as `dispatcher enqueue` does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ... import intake
from ...access_models import StoredAnswer
from ...clock import Time
from ...models import EventDelivery
from ..auth import Reader, StoreDep, Writer, now
from ..problems import responses

router = APIRouter(tags=["events"])

Payload = dict[str, Any] | list[Any]
# Documented as what it must be, but checked by the library's rule (its errors say more than a union's).
PayloadIn = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "array"}]})]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        max_length=intake.MAX_KEY_LENGTH,
        description="A key of the client's choosing: a repeat of the request with the same key within "
        "24 hours gets the first answer again and queues nothing; another request with it, a 409.",
    ),
]


async def raw_body(request: Request) -> bytes:
    """The body as sent: the payload is stored as the client wrote it, not as parsed and dumped."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, description="The event type endpoints subscribe to, e.g. new_lead.")
    payload: PayloadIn = Field(description="A JSON object or array, at most 1 MiB, stored exactly as sent.")


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=intake.MAX_BULK)


class Created(BaseModel):
    id: int


class CreatedMany(BaseModel):
    ids: list[int]


class EventOut(BaseModel):
    id: int
    type: str
    payload: Payload
    created_at: Time
    deliveries: list[EventDelivery] = Field(
        description="Per endpoint it was queued for: where it stands, its batch and that batch's attempts."
    )


def _submit(
    request: Request,
    store: StoreDep,
    key: Writer,
    body: bytes,
    idempotency_key: str | None,
    events: list[intake.NewEvent],
    answer: Callable[[list[int]], Any],
) -> Response:
    once = None
    if idempotency_key is not None:
        digest = intake.request_sha256(request.method, request.url.path, body)
        once = intake.idempotency_key(key.id, idempotency_key, digest)

    def stored(ids: list[int]) -> StoredAnswer:
        return StoredAnswer(201, json.dumps(answer(ids), separators=(",", ":")))

    made, repeated = intake.submit(store, events, now(request), stored, once)
    headers = {"Idempotent-Replayed": "true"} if repeated else None
    return Response(made.body, made.status, headers, media_type="application/json")


@router.post(
    "/events",
    status_code=201,
    response_model=Created,
    responses=responses(401, 403, 409, 422),
    # The body is read by the library's rules alone (intake.read_event), not parsed a second time
    # into a model first: the model only describes it.
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": EventIn.model_json_schema()}}}
    },
)
async def create_event(request: Request, key: Writer, idempotency_key: IdempotencyHeader = None) -> Response:
    """Queue one event for every endpoint subscribed to its type (as `dispatcher enqueue`)."""
    # The hot path of a producer posting event by event (bench case 8), so it runs in the event
    # loop (one short transaction; a hop to the thread pool and back costs more) and reads its body
    # and lends its store itself: FastAPI's generator dependencies cost a fifth of such a request.
    body = await request.body()
    event = intake.read_event(body)
    with request.app.state.stores.lend() as store:
        return _submit(request, store, key, body, idempotency_key, [event], lambda ids: {"id": ids[0]})


@router.post("/events/bulk", status_code=201, response_model=CreatedMany, responses=responses(401, 403, 409, 422))
def create_events(
    request: Request,
    store: StoreDep,
    key: Writer,
    events: BulkIn,
    body: RawBody,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Queue up to 1,000 events, all or none: one bad event (the problem names its index) queues nothing."""
    return _submit(request, store, key, body, idempotency_key, intake.read_bulk(body), lambda ids: {"ids": ids})


@router.get("/events/{event_id}", responses=responses(401, 404, 422))
def get_event(store: StoreDep, key: Reader, event_id: Annotated[int, Path(ge=1, lt=2**63)]) -> EventOut:
    """The event, and per endpoint it was queued for its delivery state, batch and attempts."""
    view = store.event_view(event_id)
    event = view.event
    return EventOut(
        id=event.id,
        type=event.type,
        payload=json.loads(event.payload),
        created_at=event.created_at,
        deliveries=list(view.deliveries),
    )
