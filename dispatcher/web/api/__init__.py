"""The HTTP API under /api/v1: JSON in and out, errors as problem details, a Bearer key on every call."""

from fastapi import APIRouter

from . import webhooks

router = APIRouter()
router.include_router(webhooks.router)
