"""Who is asking: an API key for /api/v1 (Bearer), an admin session for /admin (a cookie).

Routes declare what they need with the annotated types below; nothing reaches a route without it.
A read-only key passes ``Reader`` and ``AdminSession`` but never ``Writer`` or ``AdminChange``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import api_keys
from ..access_models import ApiKey, WebSession
from ..store import Store
from .problems import Problem

SESSION_COOKIE = "dispatcher_session"
_BEARER = {"WWW-Authenticate": "Bearer"}
READ_ONLY = "this API key is read-only: it sees everything and changes nothing"


def now(request: Request) -> datetime:
    moment: datetime = request.app.state.clock.now()
    return moment


async def store(request: Request) -> AsyncIterator[Store]:
    """The request's own store, given back when the answer is sent.

    Lent in the event loop, not the thread pool: a hop to a thread and back costs more than taking
    a store from the pool (opening one, when all are lent, happens once per store the server keeps).
    """
    with request.app.state.stores.lend() as lent:
        yield lent


StoreDep = Annotated[Store, Depends(store)]
_bearer = HTTPBearer(auto_error=False, description="An API key, made with `dispatcher api-key create`.")


def check_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    """The valid key the request carries; a missing or wrong one is a 401."""
    if credentials is None:
        raise Problem(
            401, "an API key is needed: Authorization: Bearer KEY (make one with: dispatcher api-key create)", _BEARER
        )
    with request.app.state.stores.lend() as store:
        key = api_keys.authenticate(store, credentials.credentials, now(request))
    if key is None:
        raise Problem(401, "that API key is not valid: mistyped or revoked", _BEARER)
    return key


async def api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiKey:
    # In the event loop, with a store of its own: one indexed read (a write at most once a minute),
    # cheaper than a hop to the thread pool, and no generator dependency to unwind.
    return check_key(request, credentials)


async def writing_key(key: Annotated[ApiKey, Depends(api_key)]) -> ApiKey:
    if key.read_only:
        raise Problem(403, READ_ONLY)
    return key


Reader = Annotated[ApiKey, Depends(api_key)]
Writer = Annotated[ApiKey, Depends(writing_key)]


def admin_session(request: Request, store: StoreDep) -> WebSession:
    token = request.cookies.get(SESSION_COOKIE)
    found = None if token is None else api_keys.session(store, token, now(request))
    if found is None:
        raise Problem(401, "log in with an API key")
    return found


AdminSession = Annotated[WebSession, Depends(admin_session)]


async def admin_form(request: Request, session: AdminSession) -> WebSession:
    """A form post from a page this server made: it carries the session's CSRF token."""
    form = await request.form()  # Starlette keeps the parsed form for the route's own Form() fields
    token = form.get("csrf_token")
    if not api_keys.csrf_matches(session.csrf_token, token if isinstance(token, str) else None):
        raise Problem(403, "the form's CSRF token is missing or stale: reload the page and try again")
    return session


async def admin_change(session: Annotated[WebSession, Depends(admin_form)]) -> WebSession:
    if session.key.read_only:
        raise Problem(403, READ_ONLY)
    return session


AdminForm = Annotated[WebSession, Depends(admin_form)]
AdminChange = Annotated[WebSession, Depends(admin_change)]
