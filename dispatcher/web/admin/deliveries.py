"""/admin/deliveries: the attempt log with the API's filters and paging, and one attempt in full."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ... import filters
from ...attempt_detail import attempt_detail
from ...errors import DispatcherError
from ..api.deliveries import attempt_log
from ..auth import AdminSession, StoreDep, now
from ..templates import render

router = APIRouter()

PAGE_SIZE = 50


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(
    request: Request,
    store: StoreDep,
    session: AdminSession,
    webhook_id: str = "",
    event_id: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    form = {"webhook_id": webhook_id, "event_id": event_id, "status": status, "since": since, "until": until}
    context: dict[str, object] = {"form": form, "attempts": [], "next_url": None, "error": None}
    try:
        chosen = filters.attempt_filter(webhook_id, event_id, status, since, until, now(request))
        found = attempt_log(store, chosen, cursor, PAGE_SIZE)
    except DispatcherError as error:  # a mistyped filter: said above the form, which keeps what was typed
        context["error"] = str(error)
        return render(request, "admin/deliveries.html", context, status=422, session=session)
    context["attempts"] = found.data
    if found.next_cursor is not None:
        given = {name: value for name, value in form.items() if value}
        context["next_url"] = "/admin/deliveries?" + urlencode({**given, "cursor": found.next_cursor})
    context["filtered"] = any(form.values())
    return render(request, "admin/deliveries.html", context, session=session)


@router.get("/deliveries/{attempt_id}", response_class=HTMLResponse)
def attempt(request: Request, store: StoreDep, session: AdminSession, attempt_id: int) -> HTMLResponse:
    detail = attempt_detail(store, attempt_id)
    return render(request, "admin/attempt.html", {"attempt": detail}, session=session)
