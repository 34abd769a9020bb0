"""The request and answer models of /api/v1/webhooks, built from the endpoint settings' table
(:data:`dispatcher.endpoint_settings.SETTINGS`): a new setting is in the API without a change here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ...clock import Time
from ...endpoint_settings import SETTINGS

# name: (the type a client sends and reads, what it means): the endpoint settings' own, plus the
# seed's max_retries.
SETTING_FIELDS: dict[str, tuple[Any, str]] = {setting.name: (setting.api_type, setting.help) for setting in SETTINGS}
SETTING_FIELDS["max_retries"] = (int, "Requests after the first one (max_attempts - 1), as the seed's API has it.")
# A shell command run on the server is not for an API key to set: that would let any writing key run code.
_NOT_WRITABLE = {"notify_command"}
# The secret is written, never read back but by the create answer and /secret.
_NOT_SHOWN = {"secret"}
# Settings the answer shows in force, so never null (the global setting fills in).
_ALWAYS_SET = {"url", "events", "order", "batch_size", "timeout", "max_retries", "max_attempts", "retry"}
_ALWAYS_SET |= {"disable_after", "format", "signature", "signature_header", "signature_prefix", "headers"}
_ALWAYS_SET |= {"success", "allow_private"}

_STRICT = ConfigDict(extra="forbid")


def _optional(name: str) -> Any:
    kind, help = SETTING_FIELDS[name]
    return (kind | None, Field(default=None, description=help))


def _writable() -> list[str]:
    return [name for name in SETTING_FIELDS if name not in _NOT_WRITABLE]


WebhookCreate: type[BaseModel] = create_model(
    "WebhookCreate",
    __config__=_STRICT,
    __doc__="A new webhook: a URL, and any settings (null or left out: the default).",
    url=(str, Field(description=SETTING_FIELDS["url"][1])),
    **{name: _optional(name) for name in _writable() if name != "url"},
)

WebhookChange: type[BaseModel] = create_model(
    "WebhookChange",
    __config__=_STRICT,
    __doc__="The settings to change; those left out stay, null returns one to its default.",
    **{name: _optional(name) for name in _writable()},
)


class RetiredSecret(BaseModel):
    until: str


def _shown(name: str) -> Any:
    kind, help = SETTING_FIELDS[name]
    return (kind, Field(description=help)) if name in _ALWAYS_SET else (kind | None, Field(description=help))


Webhook: type[BaseModel] = create_model(
    "Webhook",
    __doc__="A webhook (an endpoint) with its settings in force.",
    id=(int, ...),
    is_active=(bool, Field(description="Whether requests are sent (enabled).")),
    enabled=(bool, Field(description="The same as is_active.")),
    disabled_reason=(str | None, ...),
    disabled_at=(str | None, ...),
    retired_secrets=(list[RetiredSecret], Field(description="Replaced secrets that still sign until then.")),
    created_at=(str, ...),
    **{name: _shown(name) for name in SETTING_FIELDS if name not in _NOT_SHOWN},
)

WebhookWithSecret: type[BaseModel] = create_model(
    "WebhookWithSecret",
    __base__=Webhook,
    __doc__="A new webhook, with its secret: keep it, it is shown this once (and at /secret).",
    secret=(str, Field(description="The signing secret.")),
)


class SecretRetired(BaseModel):
    secret: str
    until: str


class WebhookSecret(BaseModel):
    id: int
    secret: str
    retired_secrets: list[SecretRetired]


class Rotation(BaseModel):
    model_config = _STRICT
    secret: str | None = Field(default=None, description="The new secret (default: a new whsec_ one).")
    grace: float | str | None = Field(
        default=None, description="How long the old secret still signs too: seconds or a duration (24h by default)."
    )


class Rotated(BaseModel):
    id: int
    secret: str
    old_secret_signs_until: Time | None


class SendTest(BaseModel):
    model_config = _STRICT
    type: str | None = Field(default=None, description="Event type to send (default dispatcher.test).")
    payload: dict[str, Any] | list[Any] | str | None = Field(
        default=None, description='Event payload: JSON, or JSON text (default {"test": true}).'
    )


class SentTest(BaseModel):
    ok: bool
    status_code: int | None
    duration_ms: int
    headers: dict[str, str]
    body: str
    error: str | None


class Retried(BaseModel):
    id: int
    due_now: int = Field(description="Waiting batches made due now (0 or 1).")
    enabled: bool
