"""GET /healthz: for a load balancer or a monitor, no key needed."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ..errors import DispatcherError
from .problems import Problem, responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


@router.get("/healthz", responses=responses(503))
def healthz(request: Request) -> Health:
    """200 while the database answers, 503 when it does not."""
    stores = request.app.state.stores
    try:
        with stores.lend() as store:
            answers = store.answers()
    except DispatcherError:  # the database was removed under the server, or cannot be reached
        answers = False
    if not answers:
        raise Problem(503, "the database does not answer")
    return Health(status="ok")
