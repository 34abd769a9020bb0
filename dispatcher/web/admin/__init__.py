"""The admin UI: server-rendered pages under /admin, plain HTML forms, every post CSRF-checked."""

from fastapi import APIRouter

from . import dead, deliveries, login, webhooks

router = APIRouter()
router.include_router(login.router)
router.include_router(webhooks.router)
router.include_router(deliveries.router)
router.include_router(dead.router)
