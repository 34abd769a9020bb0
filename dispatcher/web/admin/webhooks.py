"""/admin/webhooks: the list with a create form, and one webhook's page (settings, actions, Test).

Posts that change something redirect back (303); the two that show a secret once (create,
rotate) and the Test result answer with the page itself, so nothing secret goes into a URL.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ... import endpoints, ping, webhooks
from ...access_models import WebSession
from ...clock import Clock
from ...config import defaults_from
from ...errors import DispatcherError
from ...models import Endpoint
from ...store import Store
from ..api import paging
from ..auth import AdminChange, AdminSession, StoreDep, now
from ..templates import render
from . import webhook_form

router = APIRouter(prefix="/webhooks")

PAGE_SIZE = 100
RECENT_ATTEMPTS = 20
# What a redirect back says happened (?done=...): fixed texts, so a link cannot put words on the page.
DONE = {
    "saved": "Settings saved.",
    "enabled": "Enabled: what queued meanwhile goes out with the next delivery run.",
    "disabled": "Disabled: events keep queueing for it.",
    "retried": "The batch waiting for its retry is due now.",
    "nothing": "Nothing was waiting for a retry.",
    "deleted": "Webhook deleted.",
}


async def _posted(request: Request) -> FormData:
    return await request.form()  # parsed once: the CSRF check read it already


Posted = Annotated[FormData, Depends(_posted)]


def _list_page(
    request: Request, store: Store, session: WebSession, cursor: str | None = None, **context: Any
) -> HTMLResponse:
    found = store.endpoints_after(paging.decode(cursor), PAGE_SIZE + 1)
    listed = paging.page(found, PAGE_SIZE, lambda item: item.id)
    defaults = defaults_from(store.config())
    rows = [(webhooks.as_json(item, defaults), *webhooks.health(item)) for item in listed.data]
    page_context = {
        "rows": rows,
        "next_cursor": listed.next_cursor,
        "event_types": store.event_types(),
        "choices": webhook_form.CHOICES,
        "values": context.pop("values", None) or webhook_form.blank(),
        "placeholders": webhook_form.placeholders(defaults),
        **context,
    }
    status = 422 if context.get("error") else 200
    return render(request, "admin/webhooks.html", page_context, status=status, session=session)


@router.get("", response_class=HTMLResponse)
def webhook_list(
    request: Request, store: StoreDep, session: AdminSession, cursor: str | None = None, done: str | None = None
) -> HTMLResponse:
    return _list_page(request, store, session, cursor, message=DONE.get(done or ""))


@router.post("", response_class=HTMLResponse)
def webhook_create(request: Request, store: StoreDep, session: AdminChange, form: Posted) -> HTMLResponse:
    try:
        asked = webhook_form.fields(form)
        made = webhooks.create(store, asked.pop("url"), **asked)
    except DispatcherError as refusal:
        return _list_page(request, store, session, values=webhook_form.raw(form), error=str(refusal))
    context = {"webhook": _shown(store, made), "secret": made.secret, "created": True}
    return render(request, "admin/webhook_secret.html", context, status=201, session=session)


def _shown(store: Store, webhook: Endpoint) -> dict[str, Any]:
    return webhooks.as_json(webhook, defaults_from(store.config()))


def _detail(
    request: Request, store: Store, session: WebSession, webhook_id: int, status: int = 200, **context: Any
) -> HTMLResponse:
    webhook = store.endpoint(webhook_id)
    shown = _shown(store, webhook)
    values = context.pop("values", None) or webhook_form.values_of(webhook)
    page_context = {
        "webhook": shown,
        "health": webhooks.health(webhook),
        "values": values,
        "event_types": store.event_types(),
        "choices": webhook_form.CHOICES,
        "shown_settings": webhook_form.SHOWN,
        "placeholders": webhook_form.placeholders(defaults_from(store.config())),
        "attempts": list(reversed(store.attempts(endpoint_id=webhook_id, limit=RECENT_ATTEMPTS))),
        "test_type": ping.TEST_TYPE,
        "test_payload": ping.TEST_PAYLOAD,
        "grace": "24h",
        **context,
    }
    return render(request, "admin/webhook.html", page_context, status=status, session=session)


@router.get("/{webhook_id}", response_class=HTMLResponse)
def webhook_page(
    request: Request, webhook_id: int, store: StoreDep, session: AdminSession, done: str | None = None
) -> HTMLResponse:
    return _detail(request, store, session, webhook_id, message=DONE.get(done or ""))


def _back(webhook_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/webhooks/{webhook_id}?done={done}", status_code=303)


@router.post("/{webhook_id}")
def webhook_save(request: Request, webhook_id: int, store: StoreDep, session: AdminChange, form: Posted) -> Response:
    webhook = store.endpoint(webhook_id)  # an unknown one is a 404, not a form error
    try:
        webhooks.change(store, webhook_id, now(request), **webhook_form.fields(form, webhook))
    except DispatcherError as refusal:
        return _detail(request, store, session, webhook_id, 422, values=webhook_form.raw(form), error=str(refusal))
    return _back(webhook_id, "saved")


@router.post("/{webhook_id}/enable")
def webhook_enable(request: Request, webhook_id: int, store: StoreDep, session: AdminChange) -> Response:
    endpoints.enable(store, webhook_id, now(request))
    return _back(webhook_id, "enabled")


@router.post("/{webhook_id}/disable")
def webhook_disable(request: Request, webhook_id: int, store: StoreDep, session: AdminChange) -> Response:
    endpoints.disable(store, webhook_id, now(request))
    return _back(webhook_id, "disabled")


@router.post("/{webhook_id}/retry")
def webhook_retry(request: Request, webhook_id: int, store: StoreDep, session: AdminChange) -> Response:
    _, waiting = endpoints.retry_now(store, webhook_id, now(request))
    return _back(webhook_id, "retried" if waiting else "nothing")


@router.post("/{webhook_id}/rotate-secret", response_class=HTMLResponse)
def webhook_rotate(
    request: Request, webhook_id: int, store: StoreDep, session: AdminChange, form: Posted
) -> HTMLResponse:
    grace = str(form.get("grace") or "24h")
    endpoint, until = webhooks.rotate_secret(store, webhook_id, now(request), grace=grace)
    context = {"webhook": _shown(store, store.endpoint(webhook_id)), "secret": endpoint.secret, "until": until}
    return render(request, "admin/webhook_secret.html", context, session=session)


@router.post("/{webhook_id}/test", response_class=HTMLResponse)
def webhook_test(
    request: Request, webhook_id: int, store: StoreDep, session: AdminChange, form: Posted
) -> HTMLResponse:
    event_type = str(form.get("type") or ping.TEST_TYPE)
    payload = str(form.get("payload") or ping.TEST_PAYLOAD)
    clock: Clock = request.app.state.clock
    store.endpoint(webhook_id)  # an unknown one is a 404, not a form error
    try:
        report = webhooks.test_report(ping.send_test(store, webhook_id, clock, event_type, payload))
    except DispatcherError as refusal:
        tried = {"test_type": event_type, "test_payload": payload}
        return _detail(request, store, session, webhook_id, 422, test_error=str(refusal), **tried)
    context = {"webhook": _shown(store, store.endpoint(webhook_id)), "report": report, "type": event_type}
    return render(request, "admin/webhook_test.html", context, session=session)


@router.get("/{webhook_id}/delete", response_class=HTMLResponse)
def webhook_delete_page(request: Request, webhook_id: int, store: StoreDep, session: AdminSession) -> HTMLResponse:
    context = {"webhook": _shown(store, store.endpoint(webhook_id))}
    return render(request, "admin/webhook_delete.html", context, session=session)


@router.post("/{webhook_id}/delete")
def webhook_delete(webhook_id: int, store: StoreDep, session: AdminChange) -> Response:
    store.delete_endpoint(webhook_id)
    return RedirectResponse("/admin/webhooks?done=deleted", status_code=303)
