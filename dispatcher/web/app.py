"""The web application: the API, the admin pages, /docs, /healthz and /metrics on one app."""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..clock import Clock, SystemClock
from ..delivery import RunOptions
from ..store import Location
from . import admin, api, health, metrics, problems
from .delivery_loop import DeliveryLoop
from .stores import Stores

DESCRIPTION = """\
The HTTP API of a queued, batched, signed webhook sender.

Every call needs an API key: `Authorization: Bearer KEY`. Make one on the server with
`dispatcher api-key create`; a `--read-only` key may read everything and change nothing.
Errors are RFC 9457 problem details (`application/problem+json`).
"""

# The admin pages load nothing from elsewhere and may not be framed (clickjacking).
_PAGE_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


@dataclass(frozen=True)
class WebOptions:
    db: str | Path | Location
    deliver: RunOptions | None = None  # deliver in this process too, with these options
    metrics_public: bool = False  # /metrics without a key
    clock: Clock = field(default_factory=SystemClock)
    on_started: Callable[[], None] = lambda: None  # told once the app is ready for requests
    on_delivery: Callable[..., None] = lambda summary: None  # told what each delivery run did


class PageHeaders:
    """Headers every answer gets, and the admin pages' policy (a plain ASGI middleware: Starlette's
    BaseHTTPMiddleware streams every answer through a task of its own, a third of a small request's cost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope["path"].startswith("/admin")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if page:
                    headers.setdefault("Content-Security-Policy", _PAGE_POLICY)
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(options: WebOptions) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = None
        if options.deliver is not None:
            loop = DeliveryLoop(options.db, options.deliver, options.on_delivery)
            loop.start()
        options.on_started()
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()  # lets the requests in flight finish
            app.state.stores.close()

    app = FastAPIOffline(
        title="dispatcher",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
        favicon_url="/static/favicon.svg",
    )
    app.state.stores = Stores(options.db)
    app.state.clock = options.clock
    app.state.metrics_public = options.metrics_public
    # As a shell takes it: a PostgreSQL URL's ? and & would not survive unquoted.
    app.state.db_shown = shlex.quote(str(options.db))
    problems.install(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(admin.router, prefix="/admin", include_in_schema=False)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/admin", status_code=303)

    app.add_middleware(PageHeaders)
    return app
