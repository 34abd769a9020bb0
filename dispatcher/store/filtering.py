"""WHERE clauses from the filters a caller gave, for every backend: each backend writes its
conditions in its own SQL; which of them apply, and with what parameters, is decided here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def conditions(always: Sequence[str], given: Iterable[tuple[str, str, object]]) -> tuple[str, dict[str, Any]]:
    """The ``always`` conditions and those of the (condition, parameter, value) triples ``given``
    whose value is not None, joined by AND; and the parameters they name."""
    where = list(always)
    params: dict[str, Any] = {}
    for condition, name, value in given:
        if value is not None:
            where.append(condition)
            params[name] = value
    return " AND ".join(where), params


def status_filter(status: int | str | None) -> tuple[bool | None, int | None]:
    """An attempt log's ``status`` filter (an HTTP status code, "ok" or "failed") as the ok flag and
    the status code it asks for; None for either it does not."""
    ok = {"ok": True, "failed": False}.get(str(status))
    return ok, None if status in (None, "ok", "failed") else int(status or 0)
