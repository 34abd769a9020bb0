"""The admin pages' templates: Jinja2 with autoescaping, so whatever a page shows (a payload,
a receiver's answer, a header) is text, never markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..access_models import WebSession

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, session: WebSession | None = None
) -> HTMLResponse:
    """Render a page; ``session`` (the logged-in key) gives the page its navigation and CSRF token."""
    return TEMPLATES.TemplateResponse(
        request, name, {"session": session, "version": __version__, **context}, status_code=status
    )
