"""Errors as RFC 9457 problem details (`application/problem+json`), for the API and the pages.

The library's errors map once, here: a :class:`~dispatcher.errors.NotFound` is 404, a
:class:`~dispatcher.errors.Conflict` 409, any other
:class:`~dispatcher.errors.DispatcherError` (bad input the user can fix) is 422. The admin
pages get the same answer as an HTML page, and a login page instead of a 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import Conflict, DispatcherError, NotFound

PROBLEM_JSON = "application/problem+json"


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None  # the fields a 422 refused


class Problem(Exception):
    """Raised by routes and dependencies; answered as problem details."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of the problems a route may answer."""
    return {
        status: {
            "model": ProblemDetails,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }


def _answer(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    if request.url.path.startswith("/admin"):
        if status == 401:
            return RedirectResponse(f"/admin/login?next={quote(request.url.path)}", status_code=303)
        from .templates import render  # the pages' templates load only with the pages

        return render(
            request, "error.html", {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}, status
        )
    body = ProblemDetails(title=HTTPStatus(status).phrase, status=status, detail=detail, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status, headers, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    async def problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, Problem)
        return _answer(request, error.status, error.detail, error.headers)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _answer(request, error.status_code, str(error.detail), error.headers)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [{"loc": list(item["loc"]), "msg": item["msg"]} for item in error.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return _answer(request, 422, f"{where}: {first['msg']}" if where else str(first["msg"]), errors=errors)

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, DispatcherError)
        status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 422
        return _answer(request, status, str(error))

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(DispatcherError, refused)
