"""The one exception type the CLI turns into a one-line message."""


class DispatcherError(Exception):
    """Something the user can fix: bad input, a missing endpoint, a bad file.

    ``exit_code`` follows the CLI contract: 2 for bad input, 1 for anything
    that stopped the dispatcher from running.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFound(DispatcherError):
    pass


class Conflict(DispatcherError):
    """The request clashes with what is stored (an idempotency key reused for another request)."""
