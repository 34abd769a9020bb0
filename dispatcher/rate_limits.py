"""An endpoint's rate limit: at most N request starts per second or per minute, evenly spaced."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import DispatcherError

Per = Literal["s", "m"]
SECONDS: dict[Per, float] = {"s": 1.0, "m": 60.0}
# 1,000 a second is more than one endpoint's requests can reach here (README, "Performance").
MAX_PER_SECOND = 1000
_SPEC = re.compile(r"\s*([0-9]+)\s*/\s*(s|m)\s*")


@dataclass(frozen=True)
class RateLimit:
    count: int
    per: Per

    @property
    def interval(self) -> float:
        """Seconds between two request starts. No burst: so N starts never fall in one window of the period."""
        return SECONDS[self.per] / self.count

    def spec(self) -> str:
        return f"{self.count}/{self.per}"


def parse_rate_limit(text: str) -> RateLimit:
    """``10/s`` or ``600/m``: at most that many request starts a second or a minute."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise DispatcherError(f"invalid rate limit {text.strip()!r}: use N/s or N/m, such as 10/s or 600/m")
    count, per = int(match[1]), _PER[match[2]]
    most = MAX_PER_SECOND * (60 if per == "m" else 1)
    if not 1 <= count <= most:
        raise DispatcherError(f"invalid rate limit {text.strip()!r}: use 1 to {most:,} per {_WORD[per]}")
    return RateLimit(count, per)


_PER: dict[str, Per] = {"s": "s", "m": "m"}
_WORD: dict[Per, str] = {"s": "second", "m": "minute"}
