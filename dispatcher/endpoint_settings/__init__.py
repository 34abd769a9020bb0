"""Endpoint settings, declared once: :data:`SETTINGS` holds one :class:`Setting` per setting, and the
store's rows, the checks, the JSON, the CLI's options, the API's fields and the README's table
are all read from it. A new setting is a declaration there, a field of
:class:`dispatcher.models.Endpoint` and a column of the endpoints table (tests/test_endpoint_settings.py
checks the three agree).
"""

from .checks import Header, check_ca_bundle, check_description, check_events, check_name, header_pairs
from .setting import Flag, Setting
from .table import FOLLOWS_GLOBAL, NAMES, RETRY_AT_ONCE, SETTINGS, by_name, endpoint_fields, settings_of
from .validation import check_all, none_is_default, refuse_unknown

__all__ = [
    "FOLLOWS_GLOBAL",
    "NAMES",
    "RETRY_AT_ONCE",
    "SETTINGS",
    "Flag",
    "Header",
    "Setting",
    "by_name",
    "check_all",
    "check_ca_bundle",
    "check_description",
    "check_events",
    "check_name",
    "endpoint_fields",
    "header_pairs",
    "none_is_default",
    "refuse_unknown",
    "settings_of",
]
