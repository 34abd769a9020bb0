"""Endpoint operations: add, update, retry now, rotate the secret, enable, disable."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .clock import SystemClock
from .durations import format_duration
from .endpoint_settings import NAMES, RETRY_AT_ONCE, check_all, none_is_default, refuse_unknown, settings_of
from .errors import DispatcherError
from .models import Endpoint, RetiredSecret
from .sending.request import MULTI_SECRET_SCHEMES
from .signing import check_secret, new_secret
from .store import Store
from .store.types import EndpointChange

DEFAULT_GRACE = 24 * 3600.0  # how long a rotated-out secret still signs, as Svix does
MAX_GRACE = 30 * 24 * 3600.0


def add(store: Store, url: str, **settings: Any) -> Endpoint:
    """Register an endpoint (settings as in :data:`~dispatcher.endpoint_settings.SETTINGS`, in the
    shapes the CLI or the JSON gives); a secret is generated when none is given."""
    refuse_unknown(settings)
    fields = none_is_default({**dict.fromkeys(NAMES), **settings, "url": url})
    if fields["secret"] is None:
        fields["secret"] = new_secret(fields["signature"])
    return store.endpoint(store.insert_endpoint(check_all(fields)))


def update(store: Store, endpoint_id: int, now: datetime | None = None, **changes: Any) -> Endpoint:
    """Change the given settings; others stay. None returns a global one to the global default.

    A change to one of :data:`RETRY_AT_ONCE` makes the batch waiting for its retry due at
    ``now`` (default: the system clock's), in the same transaction.
    """
    refuse_unknown(changes)
    changes = none_is_default(changes)
    at = now or SystemClock().now()

    def change(current: Endpoint) -> EndpointChange:
        before = settings_of(current)
        fields = {**before, **changes}
        if "secret" not in changes:
            try:
                check_secret(current.secret, fields["signature"])
            except DispatcherError:
                raise DispatcherError(
                    f"endpoint {endpoint_id}'s secret does not suit the {fields['signature']} scheme: "
                    "give a new one with --secret (standard: whsec_ + base64 of 24-64 random bytes)"
                ) from None
        checked = check_all(fields)
        row = {name: checked[name] for name in changes}
        if checked["signature"] != current.signing.scheme:
            # Old secrets signed for the old scheme, which receivers no longer check; a standard one may not even suit.
            row["retired_secrets"] = ()
        retry_at_once = any(checked[name] != before[name] for name in RETRY_AT_ONCE)
        return EndpointChange(row, at if retry_at_once else None)

    return store.change_endpoint(endpoint_id, change)[0]


def retry_now(store: Store, endpoint_id: int, now: datetime) -> tuple[Endpoint, int]:
    """Make the batch the endpoint is waiting to retry due at ``now``; returns the endpoint and
    how many batches were waiting (0 or 1). A disabled endpoint still waits for `enable`."""
    return store.change_endpoint(endpoint_id, lambda current: EndpointChange({}, now))


def rotate_secret(
    store: Store, endpoint_id: int, now: datetime, secret: str | None = None, grace: float = DEFAULT_GRACE
) -> tuple[Endpoint, datetime | None]:
    """Give the endpoint a new secret; the old one still signs for ``grace`` seconds.

    Only the schemes that carry several signatures (``timestamped``,
    ``standard``) can use the old secret; the others sign with the new one at
    once. Returns the endpoint and the time until which requests also carry
    the old secret's signature (None: they do not). A batch waiting for its
    retry is due at once: the new secret may be the one the receiver expects.
    """
    if not 0 <= grace <= MAX_GRACE:
        raise DispatcherError(f"invalid grace period: use 0s to {format_duration(MAX_GRACE)}")
    old_signs_until: datetime | None = None

    def change(endpoint: Endpoint) -> EndpointChange:
        nonlocal old_signs_until
        scheme = endpoint.signing.scheme
        new = check_secret(secret, scheme) if secret is not None else new_secret(scheme)
        if new == endpoint.secret:
            raise DispatcherError("the new secret is the current one")
        still_valid = [old for old in endpoint.retired_secrets if old.until > now and old.secret != new]
        until = now + timedelta(seconds=grace)
        retiring = [RetiredSecret(endpoint.secret, until)] if grace > 0 else []
        old_signs_until = until if retiring and scheme in MULTI_SECRET_SCHEMES else None
        return EndpointChange({"secret": new, "retired_secrets": retiring + still_valid}, now)

    return store.change_endpoint(endpoint_id, change)[0], old_signs_until


def enable(store: Store, endpoint_id: int, now: datetime) -> Endpoint:
    """Resume sending: the failure count starts again, and what waited is due at once."""
    store.enable_endpoint(endpoint_id, now)
    return store.endpoint(endpoint_id)


def disable(store: Store, endpoint_id: int, now: datetime, reason: str = "disabled by user") -> Endpoint:
    store.disable_endpoint(endpoint_id, reason, now)
    return store.endpoint(endpoint_id)
