"""What any store raises, whatever database is behind it: callers catch these, never a driver's errors."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import DispatcherError

_Method = TypeVar("_Method", bound=Callable[..., Any])
_Store = TypeVar("_Store")

# The methods that insert events: what their statements refuse is the payload or the type.
INSERTING = ("insert_event", "insert_event_counted", "insert_events", "stage_events", "insert_events_once")


class StoreError(DispatcherError):
    """The database failed or refused a statement for a reason the caller did not cause by its input
    (a locked, full, corrupt or unreachable database)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


class PayloadRefused(StoreError):
    """The schema refused an event: a payload that is not a JSON object or array, over 1 MiB, or not
    valid text; an empty type. The producer's rule (dispatcher.payloads) says which, given the payload."""

    def __init__(self, reason: str, row: int | None = None) -> None:
        super().__init__(f"event refused by the database: {reason}", exit_code=2)
        self.reason = reason  # the database's own words
        # Which of the rows given (from 0) was refused, when the store knows it better than the
        # caller's iteration does: a COPY reads ahead of the row the server refuses.
        self.row = row


def raising_store_errors(
    refusals: tuple[type[BaseException], ...], failures: tuple[type[BaseException], ...]
) -> Callable[[type[_Store]], type[_Store]]:
    """A class decorator: every public method of the store raises the store's errors instead of its
    driver's, so no caller needs to know which database is behind it. ``refusals`` are what the
    schema raises for a row it refuses (a PayloadRefused when an event is inserted, else a
    StoreError); ``failures`` everything else the driver raises."""

    def translated(method: _Method, inserts_events: bool) -> _Method:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except refusals as error:
                if inserts_events:
                    raise PayloadRefused(one_line(error)) from error
                raise StoreError(f"database error: {one_line(error)}") from error
            except failures as error:
                raise StoreError(f"database error: {one_line(error)}") from error

        return call  # type: ignore[return-value]

    def decorate(cls: type[_Store]) -> type[_Store]:
        for name in dir(cls):
            method = inspect.getattr_static(cls, name)
            if not name.startswith("_") and isinstance(method, types.FunctionType):
                setattr(cls, name, translated(method, name in INSERTING))
        return cls

    return decorate


def one_line(error: BaseException) -> str:
    """The driver's message on one line. PostgreSQL's primary message only: its detail can hold the
    whole refused row (a 1 MiB payload, say), and its context the statement."""
    primary = getattr(getattr(error, "diag", None), "message_primary", None)
    text = primary if isinstance(primary, str) and primary else str(error)
    return " ".join(text.split()) or type(error).__name__
