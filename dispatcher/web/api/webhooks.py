"""/api/v1/webhooks: endpoints as the seed's API manages them (create, list, change, test...).

The request bodies are models built at import time (see webhook_models), which mypy cannot take
as annotations: hence the ``type: ignore[valid-type]`` on those parameters.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ... import endpoints, ping, webhooks
from ...clock import Clock
from ...config import defaults_from
from ...models import Endpoint
from ...store import Store
from ..auth import Reader, StoreDep, Writer, now
from ..problems import responses
from . import paging
from .webhook_models import (
    Retried,
    Rotated,
    Rotation,
    SendTest,
    SentTest,
    Webhook,
    WebhookChange,
    WebhookCreate,
    WebhookSecret,
    WebhookWithSecret,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_ONE = "/{webhook_id}"


def _shown(store: Store, webhook: Endpoint, show_secret: bool = False) -> dict[str, Any]:
    return webhooks.as_json(webhook, defaults_from(store.config()), show_secret)


@router.post("", status_code=201, response_model=WebhookWithSecret, responses=responses(401, 403, 422))
def create_webhook(body: WebhookCreate, store: StoreDep, key: Writer) -> dict[str, Any]:  # type: ignore[valid-type]
    """Register a webhook; the answer holds its secret, shown this once (and at /secret)."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return _shown(store, webhooks.create(store, fields.pop("url"), **fields), show_secret=True)


@router.get("", response_model=paging.Page[Webhook], responses=responses(401, 422))  # type: ignore[valid-type]
def list_webhooks(
    store: StoreDep, key: Reader, limit: paging.Limit = paging.DEFAULT_LIMIT, cursor: paging.Cursor = None
) -> Any:
    """The webhooks by id, a page at a time."""
    found = store.endpoints_after(paging.decode(cursor), limit + 1)
    defaults = defaults_from(store.config())
    return paging.page([webhooks.as_json(item, defaults) for item in found], limit, lambda item: int(item["id"]))


@router.get(_ONE, response_model=Webhook, responses=responses(401, 404, 422))
def get_webhook(webhook_id: int, store: StoreDep, key: Reader) -> dict[str, Any]:
    return _shown(store, store.endpoint(webhook_id))


@router.patch(_ONE, response_model=Webhook, responses=responses(401, 403, 404, 422))
def change_webhook(
    webhook_id: int,
    body: WebhookChange,  # type: ignore[valid-type]
    request: Request,
    store: StoreDep,
    key: Writer,
) -> dict[str, Any]:
    """Change the settings given; null returns one to its default (the global setting, where there is one)."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    return _shown(store, webhooks.change(store, webhook_id, now(request), **fields))


@router.delete(_ONE, status_code=204, responses=responses(401, 403, 404, 422))
def delete_webhook(webhook_id: int, store: StoreDep, key: Writer) -> Response:
    """Delete a webhook with its queued deliveries and attempt history."""
    store.delete_endpoint(webhook_id)
    return Response(status_code=204)


@router.get(_ONE + "/secret", response_model=WebhookSecret, responses=responses(401, 403, 404, 422))
def get_secret(webhook_id: int, store: StoreDep, key: Writer) -> dict[str, Any]:
    """The signing secret, and replaced ones that still sign for a while. A read-only key may not
    read it: with the secret, anyone can sign requests the receiver takes for ours."""
    return webhooks.secrets_of(store.endpoint(webhook_id))


@router.post(_ONE + "/enable", response_model=Webhook, responses=responses(401, 403, 404, 422))
def enable_webhook(webhook_id: int, request: Request, store: StoreDep, key: Writer) -> dict[str, Any]:
    """Resume sending: what queued meanwhile goes out."""
    endpoints.enable(store, webhook_id, now(request))
    return _shown(store, store.endpoint(webhook_id))


@router.post(_ONE + "/disable", response_model=Webhook, responses=responses(401, 403, 404, 422))
def disable_webhook(webhook_id: int, request: Request, store: StoreDep, key: Writer) -> dict[str, Any]:
    """Stop sending; events keep queueing for it."""
    endpoints.disable(store, webhook_id, now(request))
    return _shown(store, store.endpoint(webhook_id))


@router.post(_ONE + "/retry", response_model=Retried, responses=responses(401, 403, 404, 422))
def retry_webhook(webhook_id: int, request: Request, store: StoreDep, key: Writer) -> Retried:
    """Make the batch waiting for its retry due now."""
    endpoint, waiting = endpoints.retry_now(store, webhook_id, now(request))
    return Retried(id=endpoint.id, due_now=waiting, enabled=endpoint.enabled)


@router.post(_ONE + "/rotate-secret", response_model=Rotated, responses=responses(401, 403, 404, 422))
def rotate_secret(
    webhook_id: int, request: Request, store: StoreDep, key: Writer, body: Rotation | None = None
) -> Rotated:
    """Give the webhook a new secret (answered here); the old one still signs for the grace period."""
    asked = body or Rotation()
    endpoint, until = webhooks.rotate_secret(store, webhook_id, now(request), asked.secret, asked.grace)
    return Rotated(id=endpoint.id, secret=endpoint.secret, old_secret_signs_until=until)


@router.post(_ONE + "/test", response_model=SentTest, responses=responses(401, 403, 404, 422))
def test_webhook(
    webhook_id: int, request: Request, store: StoreDep, key: Writer, body: SendTest | None = None
) -> dict[str, Any]:
    """Send one signed test request now, as a real one would go, and answer what the receiver said."""
    asked = body or SendTest()
    clock: Clock = request.app.state.clock
    outcome = ping.send_test(
        store,
        webhook_id,
        clock,
        ping.TEST_TYPE if asked.type is None else asked.type,
        ping.TEST_PAYLOAD if asked.payload is None else asked.payload,
    )
    return webhooks.test_report(outcome)
