"""What any store raises, whatever database is behind it: callers catch these, never a driver's errors."""

from __future__ import annotations

from ..errors import DispatcherError


class StoreError(DispatcherError):
    """The database failed or refused a statement for a reason the caller did not cause by its input
    (a locked, full, corrupt or unreachable database)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


class PayloadRefused(StoreError):
    """The schema refused an event: a payload that is not a JSON object or array, over 1 MiB, or not
    valid text; an empty type. The producer's rule (dispatcher.payloads) says which, given the payload."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"event refused by the database: {reason}", exit_code=2)
        self.reason = reason  # the database's own words
