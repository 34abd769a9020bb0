"""What one endpoint setting is declared with, and how values go into their columns and back."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..models import Endpoint
from ..rate_limits import RateLimit, parse_rate_limit
from ..retry import RetryPolicy, parse_policy


@dataclass(frozen=True)
class Stored:
    """How a setting's value goes into its column (``to_row``) and comes back (``from_row``)."""

    to_row: Callable[[Any], Any]
    from_row: Callable[[Any], Any]


@dataclass(frozen=True)
class Flag:
    """The option of `dispatcher endpoint add` and `update` that sets it; the CLI makes the click option.

    The value's type is given by at most one of ``choices``, ``whole`` and ``duration``; none of them
    is text. A switch is spelled both ways, ``--allow-private/--no-allow-private``, and gives
    True, False or (not given) None.
    """

    spelling: str  # "--batch-size"
    metavar: str | None = None  # how --help names the value, when its type does not
    multiple: bool = False  # repeated for several values, given as a tuple
    choices: tuple[str, ...] = ()  # one of these words
    whole: tuple[int, int] | None = None  # a whole number from the first to the second
    duration: bool = False  # typed as 500ms, 5s, 2h...; given as seconds

    @property
    def spellings(self) -> tuple[str, ...]:
        return tuple(self.spelling.split("/"))


@dataclass(frozen=True)
class Setting:
    """One endpoint setting, declared once in :data:`dispatcher.endpoint_settings.SETTINGS`.

    ``name`` is the keyword of ``endpoints.add`` and ``endpoints.update``, the key in the endpoint's
    JSON and the API's field; ``api_type`` is that field's annotation, a real one pydantic takes as
    it is: ``create_model("Endpoint", **{s.name: (s.api_type, ...) for s in SETTINGS})``, with
    ``s.help`` as the description. The library takes the values the JSON has: seconds as numbers,
    the retry policy as its spec, the patterns as a list. ``headers`` is an object,
    ``{"Name": "value"}``: pass the dict as it is (the check makes (name, value) pairs of it, as it
    does of the CLI's ``"Name: value"`` strings and of (name, value) pairs).
    """

    name: str
    help: str  # one line: the CLI's --help, the API field's description, the README's table
    api_type: Any
    flag: Flag
    default: Any = None  # a new endpoint's; None where the endpoint follows the global setting
    column: str = ""  # in the endpoints table; "" is the name
    attribute: str = ""  # where Endpoint keeps it, dotted when in Endpoint.signing; "" is the name
    check: Callable[[Any], Any] | None = None  # the value alone, checked and normalised; None: as given
    stored: Stored | None = None  # None: the column holds the value as it is
    to_json: Callable[[Any], Any] | None = None  # None: the JSON holds the value as it is
    follows_global: bool = False  # None takes the global setting (dispatcher config)
    # Decides whether a request can succeed at all: a change makes the batch waiting for its retry
    # due at once, rather than when the schedule said (up to hours later).
    retry_at_once: bool = False
    required: bool = False  # no default: `endpoint add`'s argument, the API's required field
    hidden: bool = False  # in the JSON only when secrets are asked for
    redact: Callable[[Any], Any] | None = None  # how the JSON shows it when secrets are not asked for
    in_force: Callable[[Endpoint], Any] | None = None  # what applies while the endpoint has None

    def __post_init__(self) -> None:
        # Most settings have one name for the field, the column and the key: spelled once.
        object.__setattr__(self, "column", self.column or self.name)
        object.__setattr__(self, "attribute", self.attribute or self.name)

    def value_in(self, endpoint: Endpoint) -> Any:
        """The endpoint's own value (None: it follows the global setting or the scheme's)."""
        value: Any = endpoint
        for part in self.attribute.split("."):
            value = getattr(value, part)
        return value

    def to_row(self, value: Any) -> Any:
        return value if self.stored is None else self.stored.to_row(value)

    def json_value(self, value: Any) -> Any:
        return value if self.to_json is None or value is None else self.to_json(value)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


# One encoder for every row: json.dumps makes a new one per call when given separators.
COMPACT = json.JSONEncoder(separators=(",", ":"))

# An endpoint is read for every batch the process loop claims, and its JSON columns rarely
# change: each text is parsed once.


@functools.lru_cache(maxsize=256)
def _patterns(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def pairs_from_json(text: str) -> tuple[tuple[str, str], ...]:
    """Headers kept as a JSON array of [name, value]: an endpoint's, or an attempt's."""
    return tuple((name, value) for name, value in json.loads(text))


_header_pairs = functools.lru_cache(maxsize=256)(pairs_from_json)
_policy = functools.lru_cache(maxsize=256)(parse_policy)
_rate_limit = functools.lru_cache(maxsize=256)(parse_rate_limit)

# Whole milliseconds, so a duration prints back exactly as it was typed (see dispatcher.durations).
MILLISECONDS = Stored(_optional(lambda seconds: round(seconds * 1000)), _optional(lambda millis: millis / 1000))
SWITCH = Stored(_optional(int), _optional(bool))
PATTERNS = Stored(json.dumps, _patterns)
HEADER_PAIRS = Stored(COMPACT.encode, _header_pairs)
RETRY_SPEC = Stored(_optional(RetryPolicy.spec), lambda text: _policy(text) if text else None)
RATE_LIMIT = Stored(_optional(RateLimit.spec), lambda text: _rate_limit(text) if text else None)
