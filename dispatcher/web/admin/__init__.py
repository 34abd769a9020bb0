"""The admin UI: server-rendered pages under /admin, plain HTML forms, every post CSRF-checked."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from . import dashboard, dead, deliveries, login, webhooks

router = APIRouter()
router.include_router(login.router)
router.include_router(webhooks.router)
router.include_router(deliveries.router)
router.include_router(dead.router)
# The dashboard is /admin itself, which only this router's own routes can name (FastAPI refuses
# an empty path in an included router); /admin/ too, rather than a redirect.
for _path in ("", "/"):
    router.add_api_route(_path, dashboard.dashboard_page, methods=["GET"], response_class=HTMLResponse)
