"""The HTTP API under /api/v1: JSON in and out, errors as problem details, a Bearer key on every call."""

from fastapi import APIRouter

from . import deliveries, events, recovery, webhooks

router = APIRouter()
# Before the webhooks' routes: /webhooks/deliveries must not be taken for /webhooks/{webhook_id}.
router.include_router(deliveries.router)
router.include_router(events.router)
router.include_router(recovery.router)
router.include_router(webhooks.router)
