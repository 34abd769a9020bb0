"""Logging in to the admin UI with an API key, and out again."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ... import api_keys
from ...errors import DispatcherError
from ..auth import SESSION_COOKIE, AdminForm, StoreDep, now
from ..templates import render

router = APIRouter()

# Before a session exists, a login form is tied to its browser by a cookie holding the same
# token as the form (double submit), so another site cannot log a browser in with its own key.
LOGIN_COOKIE = "dispatcher_login"


def _safe_next(target: str) -> str:
    """Only a path of this server's admin UI: a login must not bounce a browser elsewhere."""
    return target if target.startswith("/admin") and not target.startswith("//") else "/admin"


def _login_page(request: Request, store: StoreDep, target: str, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    context = {
        "csrf_token": token,
        "next": _safe_next(target),
        "error": error,
        "no_keys": store.count_api_keys() == 0,
        "db": request.app.state.db_shown,
    }
    page = render(request, "admin/login.html", context, status=401 if error else 200)
    page.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, store: StoreDep, next: str = "/admin") -> Response:
    return _login_page(request, store, next)


@router.post("/login")
def log_in(
    request: Request,
    store: StoreDep,
    key: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin",
) -> Response:
    if not api_keys.csrf_matches(request.cookies.get(LOGIN_COOKIE, ""), csrf_token or None):
        return _login_page(request, store, next, "The login form was stale: try again.")
    try:
        made = api_keys.log_in(store, key.strip(), now(request))
    except DispatcherError as refusal:
        return _login_page(request, store, next, f"{refusal}.")
    answer = RedirectResponse(_safe_next(next), status_code=303)
    answer.delete_cookie(LOGIN_COOKIE)
    answer.set_cookie(
        SESSION_COOKIE,
        made.token,
        expires=made.expires_at,
        httponly=True,
        samesite="lax",  # lax, not strict: a link to a page from a mail or a chat still finds you logged in
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/logout")
def log_out(request: Request, store: StoreDep, session: AdminForm) -> Response:
    api_keys.log_out(store, request.cookies[SESSION_COOKIE])
    answer = RedirectResponse("/admin/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer
