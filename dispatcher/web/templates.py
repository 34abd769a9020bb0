"""The admin pages' templates: Jinja2 with autoescaping, so whatever a page shows (a payload,
a receiver's answer, a header) is text, never markup; and a time is shown as everywhere else."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..access_models import WebSession
from ..clock import to_text


def _shown(value: Any) -> Any:
    """What ``{{ value }}`` prints: a time as the CLI and the API write it, anything else as it is."""
    return to_text(value) if isinstance(value, datetime) else value


TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(),
        finalize=_shown,
    )
)


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, session: WebSession | None = None
) -> HTMLResponse:
    """Render a page; ``session`` (the logged-in key) gives the page its navigation and CSRF token."""
    return TEMPLATES.TemplateResponse(
        request, name, {"session": session, "version": __version__, **context}, status_code=status
    )
