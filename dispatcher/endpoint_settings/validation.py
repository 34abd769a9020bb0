"""An endpoint's settings checked as a whole, as ``add`` and ``update`` need them.

Some settings only make sense together: a ``standard`` signature needs a ``whsec_`` secret, and a
fixed header may not take the signature header's name.
"""

from __future__ import annotations

from typing import Any

from ..errors import DispatcherError
from ..sending.request import check_headers
from ..signing import check_secret, check_signing
from .table import NAMES, SETTINGS, by_name

_CHECKS = {setting.name: setting.check for setting in SETTINGS if setting.check is not None}


def check_all(fields: dict[str, Any]) -> dict[str, Any]:
    """Every setting of a whole endpoint, validated alone and together."""
    if fields["url"] is None:
        raise DispatcherError("invalid URL: an endpoint needs one")
    checked = {
        name: _CHECKS[name](value) if name in _CHECKS and value is not None else value for name, value in fields.items()
    }
    signing = check_signing(checked["signature"], checked["signature_header"] or None, checked["signature_prefix"])
    checked["signature_header"] = signing.header
    checked["headers"] = check_headers(checked["headers"], signing)
    if not checked["secret"]:
        raise DispatcherError("invalid secret: must not be empty")
    check_secret(checked["secret"], signing.scheme)
    return checked


def refuse_unknown(settings: dict[str, Any]) -> None:
    unknown = set(settings) - set(NAMES)
    if unknown:
        raise DispatcherError(f"unknown endpoint setting: {', '.join(sorted(unknown))}")


def none_is_default(settings: dict[str, Any]) -> dict[str, Any]:
    """None asks for a setting's default: the global one, or the new-endpoint value of a wire setting."""
    return {name: by_name(name).default if value is None else value for name, value in settings.items()}
