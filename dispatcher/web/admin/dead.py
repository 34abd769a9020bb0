"""/admin/dead: dead deliveries, and replaying them by selection or by filter after a count confirmation.

Replaying takes two posts, both without JavaScript: the first answers "replay 37 dead deliveries?",
the second (confirmed) replays and goes back to the list.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ... import filters, recovery
from ...access_models import WebSession
from ...errors import DispatcherError
from ...models import DeadLetter
from ..api.paging import decode_pair, page
from ..auth import AdminChange, AdminSession, StoreDep, now
from ..templates import render

router = APIRouter()

PAGE_SIZE = 100


def _form(webhook_id: str, type: str, since: str, until: str) -> dict[str, str]:
    return {"webhook_id": webhook_id, "type": type, "since": since, "until": until}


@router.get("/dead", response_class=HTMLResponse)
def dead(
    request: Request,
    store: StoreDep,
    session: AdminSession,
    webhook_id: str = "",
    type: str = "",
    since: str = "",
    until: str = "",
    cursor: str | None = None,
    replayed: int | None = None,
) -> HTMLResponse:
    form = _form(webhook_id, type, since, until)
    context: dict[str, object] = {"form": form, "dead": [], "replayed": replayed, "error": None, "next_url": None}
    try:
        selection = filters.dead_selection(webhook_id, type, since, until, now(request))
        found = page(store.dead_page(selection, decode_pair(cursor), PAGE_SIZE + 1), PAGE_SIZE, _position)
        context["matching"] = recovery.count_replayable(store, selection)
    except DispatcherError as error:
        context["error"] = str(error)
        return render(request, "admin/dead.html", context, status=422, session=session)
    context["dead"] = found.data
    context["filtered"] = any(form.values())
    if found.next_cursor is not None:
        given = {name: value for name, value in form.items() if value}
        context["next_url"] = "/admin/dead?" + urlencode({**given, "cursor": found.next_cursor})
    return render(request, "admin/dead.html", context, session=session)


@router.post("/dead/replay", response_class=HTMLResponse)
def replay(
    request: Request,
    store: StoreDep,
    session: AdminChange,
    mode: Annotated[Literal["selected", "matching"], Form()],
    delivery: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies a default
    webhook_id: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Unconfirmed: the count and a confirm button. Confirmed: the replay, then the list again."""
    form = _form(webhook_id, type, since, until)
    if mode == "selected":
        chosen = [_pair(value) for value in delivery]
        if not chosen:
            raise DispatcherError("tick the dead deliveries to replay first")
        if confirmed:
            return _done(store.replay_dead(chosen))
        return _confirm(request, session, len(chosen), form, chosen)
    selection = filters.dead_selection(webhook_id, type, since, until, now(request))
    if confirmed:
        return _done(recovery.replay(store, selection))
    return _confirm(request, session, recovery.count_replayable(store, selection), form, [])


def _confirm(
    request: Request, session: WebSession, count: int, form: dict[str, str], chosen: list[tuple[int, int]]
) -> Response:
    context = {"count": count, "form": form, "chosen": chosen, "mode": "selected" if chosen else "matching"}
    return render(request, "admin/replay_confirm.html", context, session=session)


def _done(count: int) -> Response:
    return RedirectResponse(f"/admin/dead?replayed={count}", status_code=303)


def _position(letter: DeadLetter) -> tuple[int, int]:
    return letter.event_id, letter.endpoint


def _pair(value: str) -> tuple[int, int]:
    """A checkbox's value, "ENDPOINT:EVENT"."""
    endpoint, _, event = value.partition(":")
    if not (endpoint.isdigit() and event.isdigit()):
        raise DispatcherError(f"not a dead delivery: {value!r}")
    return int(endpoint), int(event)
