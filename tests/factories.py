"""Test data built in memory, for the pure modules' tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dispatcher.models import Endpoint, Signing


def make_endpoint(**overrides: Any) -> Endpoint:
    base = Endpoint(
        id=1,
        name=None,
        url="https://example.com/hook",
        secret="s",
        events=("*",),
        enabled=True,
        disabled_reason=None,
        disabled_at=None,
        order=None,
        batch_size=None,
        timeout=None,
        max_attempts=None,
        retry=None,
        max_age=None,
        disable_after=None,
        notify_command=None,
        format="batch",
        signing=Signing(),
        headers=(),
        success="2xx",
        allow_private=None,
        ca_bundle=None,
        retired_secrets=(),
        consecutive_failures=0,
        last_success_at=None,
        last_error=None,
        created_at="2026-11-22T10:00:00.000Z",
    )
    return replace(base, **overrides)
