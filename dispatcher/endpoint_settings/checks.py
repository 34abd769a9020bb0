"""The checks of the endpoint settings that no other module has a rule for."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence

from ..errors import DispatcherError
from ..rate_limits import RateLimit, parse_rate_limit
from ..retry import RetryPolicy, parse_policy
from ..sending.request import parse_header

MAX_DESCRIPTION = 1000

Header = str | tuple[str, str]  # "Name: value" or (name, value)


def check_name(name: str) -> str:
    """A label printed in one line of a list: a newline or terminal escape would break it or forge others."""
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise DispatcherError(f"invalid name {name!r}: no control characters or line breaks")
    return name


def check_description(text: str) -> str:
    """Free text for people, shown on its own lines: a terminal escape could still rewrite the screen."""
    if len(text) > MAX_DESCRIPTION:
        raise DispatcherError(f"invalid description: at most {MAX_DESCRIPTION} characters, not {len(text)}")
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in text):
        raise DispatcherError("invalid description: no control characters other than newline and tab")
    return text


def check_url(url: str) -> str:
    """:func:`dispatcher.urls.check_url`, imported on first use: it loads urllib3, which the store's
    module must not, for `dispatcher enqueue` loads that and reads no endpoint."""
    from ..urls import check_url as check

    return check(url)


def check_events(patterns: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(pattern.strip() for pattern in patterns)
    if not cleaned or any(not pattern for pattern in cleaned):
        raise DispatcherError("invalid event pattern: patterns must be non-empty (use * for all events)")
    return cleaned


def check_retry(policy: str | RetryPolicy) -> RetryPolicy:
    return parse_policy(policy) if isinstance(policy, str) else policy


def check_rate_limit(limit: str | RateLimit) -> RateLimit:
    return parse_rate_limit(limit) if isinstance(limit, str) else limit


def header_pairs(headers: Mapping[str, str] | Sequence[Header]) -> tuple[tuple[str, str], ...]:
    """Fixed headers as (name, value) pairs, each checked: from an object (the JSON's form),
    ``"Name: value"`` strings (the CLI's) or pairs."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple(
        parse_header(item) if isinstance(item, str) else parse_header(f"{item[0]}: {item[1]}") for item in items
    )


def check_ca_bundle(path: str) -> str:
    """A readable file of PEM certificates, kept as an absolute path: cron runs elsewhere."""
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(absolute) or not os.access(absolute, os.R_OK):
        raise DispatcherError(f"invalid CA bundle {path!r}: not a readable file")
    return absolute
