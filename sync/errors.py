"""Errors of talking to the server, each with a message a person can read (Chinese)."""

from __future__ import annotations


class SyncError(Exception):
    """Base class; ``message`` is shown to the person as it is."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ServerUnreachable(SyncError):
    """No answer: the network is down, the address is wrong, or the call timed out."""

    retryable = True


class ServerBusy(SyncError):
    """5xx or 429: try again later, after ``retry_after`` seconds when the server said."""

    retryable = True

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BadResponse(SyncError):
    """The answer is not the API's: an HTML page from a proxy, broken JSON, a wrong shape."""

    retryable = True


class AuthError(SyncError):
    """401: wrong credentials or an expired token."""


class Forbidden(SyncError):
    """403: the role may not do this."""


class IncompatibleServer(SyncError):
    """The server speaks another protocol version."""


class CursorExpired(SyncError):
    """410: the local cursor is older than the server's tombstone horizon."""


class Refused(SyncError):
    """Any other 4xx: the server understood and said no."""
