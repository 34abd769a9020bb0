"""Every endpoint setting, in the order they are listed, and what is looked up from them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from ..config import (
    KEYS,
    MAX_ATTEMPTS,
    MAX_BATCH_SIZE,
    MAX_CONCURRENCY,
    MAX_DISABLE_AFTER,
    check_batch_size,
    check_concurrency,
    check_disable_after,
    check_max_age,
    check_max_attempts,
    check_notify_command,
    check_order,
    check_timeout,
)
from ..errors import DispatcherError
from ..models import Endpoint, Order, Signing
from ..sending.formats import FORMATS, check_format
from ..sending.reach import public_url
from ..sending.request import SUCCESS_RULES, check_success
from ..signing import SCHEMES, header_name
from .checks import (
    MAX_DESCRIPTION,
    check_ca_bundle,
    check_description,
    check_events,
    check_name,
    check_rate_limit,
    check_retry,
    check_url,
    header_pairs,
)
from .setting import HEADER_PAIRS, MILLISECONDS, PATTERNS, RATE_LIMIT, RETRY_SPEC, SWITCH, Flag, Setting


def _global(name: str) -> str:
    return f"global default {KEYS[name].default}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "name",
        "A label for people, on one line.",
        str | None,
        Flag("--name", metavar="TEXT"),
        check=check_name,
    ),
    Setting(
        "description",
        f"What the endpoint is for, for people: up to {MAX_DESCRIPTION} characters, newlines and tabs allowed.",
        str | None,
        Flag("--description", metavar="TEXT"),
        check=check_description,
    ),
    Setting(
        "url",
        "Where requests go: an http:// or https:// URL.",
        str,
        Flag("--url", metavar="URL"),
        check=check_url,
        retry_at_once=True,
        required=True,
        redact=public_url,
    ),
    Setting(
        "events",
        "Event type patterns (GLOB, case-sensitive) the endpoint gets; a new endpoint gets *.",
        list[str],
        Flag("--event", metavar="PATTERN", multiple=True),
        default=("*",),
        check=check_events,
        stored=PATTERNS,
        to_json=list,
    ),
    Setting(
        "secret",
        "Signing secret (a new endpoint without one gets a random one).",
        str | None,
        Flag("--secret", metavar="TEXT"),
        retry_at_once=True,
        hidden=True,
    ),
    # The delivery settings an endpoint may leave to the global one (`dispatcher config`).
    Setting(
        "order",
        f"Oldest (asc) or newest (desc) events first ({_global('order')}).",
        Order | None,
        Flag("--order", choices=get_args(Order)),
        column="sort_order",
        check=check_order,
        follows_global=True,
    ),
    Setting(
        "batch_size",
        f"Events per request, 1 to {MAX_BATCH_SIZE} ({_global('batch_size')}); the raw format sends one.",
        int | None,
        Flag("--batch-size", whole=(1, MAX_BATCH_SIZE)),
        check=check_batch_size,
        follows_global=True,
    ),
    Setting(
        "timeout",
        f"Deadline for one request, 1ms to 1h; seconds in JSON ({_global('timeout')}).",
        float | None,
        Flag("--timeout", duration=True),
        column="timeout_ms",
        check=check_timeout,
        stored=MILLISECONDS,
        follows_global=True,
    ),
    Setting(
        "max_attempts",
        f"Requests per batch, counting the first, 1 to {MAX_ATTEMPTS} ({_global('max_attempts')}).",
        int | None,
        Flag("--max-attempts", whole=(1, MAX_ATTEMPTS)),
        check=check_max_attempts,
        follows_global=True,
    ),
    Setting(
        "retry",
        "Retry policy: schedule:5s,5m,..., exponential:1s or fixed:5m (global default: Svix's schedule).",
        str | None,
        Flag("--retry", metavar="SPEC"),
        check=check_retry,
        stored=RETRY_SPEC,
        to_json=lambda policy: policy.spec(),
        follows_global=True,
    ),
    Setting(
        "max_age",
        "Stop retrying this long after a batch's first attempt; seconds in JSON (global default: no limit).",
        float | None,
        Flag("--max-age", duration=True),
        column="max_age_ms",
        check=check_max_age,
        stored=MILLISECONDS,
        follows_global=True,
    ),
    Setting(
        "disable_after",
        f"Disable after N consecutive failed requests, 0 never ({_global('disable_after')}).",
        int | None,
        Flag("--disable-after", whole=(0, MAX_DISABLE_AFTER)),
        check=check_disable_after,
        follows_global=True,
    ),
    Setting(
        "concurrency",
        f"Batches in flight at once, 1 to {MAX_CONCURRENCY}; above 1 they may arrive out of order "
        f"({_global('concurrency')}).",
        int | None,
        Flag("--concurrency", whole=(1, MAX_CONCURRENCY)),
        check=check_concurrency,
        follows_global=True,
    ),
    Setting(
        "rate_limit",
        "At most N request starts a second (N/s) or a minute (N/m), evenly spaced (global default: none).",
        str | None,
        Flag("--rate-limit", metavar="N/s|N/m"),
        check=check_rate_limit,
        stored=RATE_LIMIT,
        to_json=lambda limit: limit.spec(),
        follows_global=True,
    ),
    Setting(
        "notify_command",
        "Run when the endpoint is disabled; gets JSON on stdin (global default: none).",
        str | None,
        Flag("--notify-command", metavar="CMD"),
        check=check_notify_command,
        follows_global=True,
    ),
    # The wire contract (README, "Receiver compatibility").
    Setting(
        "format",
        "Request body: batch (default), mautic, or raw (one payload).",
        Literal[FORMATS],
        Flag("--format", choices=FORMATS),
        default="batch",
        column="body_format",
        check=check_format,
        retry_at_once=True,
    ),
    Setting(
        "signature",
        "Signature scheme (default mautic); standard generates a whsec_ secret.",
        Literal[SCHEMES],
        Flag("--signature", choices=SCHEMES),
        default="mautic",
        column="signature_scheme",
        attribute="signing.scheme",
        retry_at_once=True,
    ),
    Setting(
        "signature_header",
        "Header carrying the signature, sent in this case (default: the scheme's own).",
        str | None,
        Flag("--signature-header", metavar="NAME"),
        attribute="signing.header",
        retry_at_once=True,
        in_force=lambda endpoint: header_name(endpoint.signing),
    ),
    Setting(
        "signature_prefix",
        "Text before the signature value, such as sha256= (mautic and hex).",
        str,
        Flag("--signature-prefix", metavar="TEXT"),
        default="",
        attribute="signing.prefix",
        retry_at_once=True,
    ),
    Setting(
        "headers",
        "Fixed headers sent with every request, names in the case they are sent.",
        dict[str, str],
        Flag("--header", metavar='"NAME: VALUE"', multiple=True),
        default=(),
        check=header_pairs,
        stored=HEADER_PAIRS,
        to_json=dict,
        retry_at_once=True,
    ),
    Setting(
        "success",
        "Statuses that count as delivered (default 2xx).",
        Literal[SUCCESS_RULES],
        Flag("--success", choices=SUCCESS_RULES),
        default="2xx",
        check=check_success,
        retry_at_once=True,
    ),
    # Where requests may go (README, "Outbound requests").
    Setting(
        "allow_private",
        "Send even to loopback, private and link-local addresses (an intranet receiver); "
        "default: the global allow_private.",
        bool | None,
        Flag("--allow-private/--no-allow-private"),
        stored=SWITCH,
        follows_global=True,
        retry_at_once=True,
    ),
    Setting(
        "ca_bundle",
        "PEM file of the CAs that sign the receiver's https certificate (default: the usual ones).",
        str | None,
        Flag("--ca-bundle", metavar="PATH"),
        check=check_ca_bundle,
        retry_at_once=True,
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}
NAMES = tuple(_BY_NAME)
# The settings an endpoint may leave to the global one: its own value None.
FOLLOWS_GLOBAL = tuple(setting.name for setting in SETTINGS if setting.follows_global)
RETRY_AT_ONCE = tuple(setting.name for setting in SETTINGS if setting.retry_at_once)
# The objects Endpoint keeps some settings in, by field name; and where each setting goes.
_NESTED = {"signing": Signing}
_PLACES = tuple((setting.name, *setting.attribute.partition(".")[::2]) for setting in SETTINGS)


def by_name(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise DispatcherError(f"unknown endpoint setting: {name}") from None


def settings_of(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's own values, by setting name."""
    return {setting.name: setting.value_in(endpoint) for setting in SETTINGS}


def endpoint_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values by setting name as :class:`Endpoint`'s fields: those it keeps in a :class:`Signing` made one."""
    fields: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, head, tail in _PLACES:
        if tail:
            nested.setdefault(head, {})[tail] = values[name]
        else:
            fields[head] = values[name]
    return {**fields, **{head: _NESTED[head](**parts) for head, parts in nested.items()}}
