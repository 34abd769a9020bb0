"""/admin: the dashboard, every endpoint's health and figures, reloaded while it is open."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from ... import dashboard
from ...durations import format_rough
from ...humane import due_in
from ..auth import AdminSession, StoreDep, now
from ..templates import render

# Often enough to watch a queue drain, rarely enough to cost the database nothing worth noticing.
REFRESH_S = 5


def dashboard_page(request: Request, store: StoreDep, session: AdminSession) -> Response:
    """/admin itself (admin/__init__.py routes it: a path the prefix alone names needs no router)."""
    moment = now(request)
    context = {
        "board": dashboard.dashboard(store, moment),
        "recent_hours": int(dashboard.RECENT.total_seconds() // 3600),
        "refresh_seconds": REFRESH_S,
        "age": format_rough,
        "due": lambda at: due_in(at, moment),
        "db": request.app.state.db_shown,
    }
    return render(request, "admin/dashboard.html", context, session=session)
