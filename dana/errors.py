"""One root error with a message fit for the user and a detail for the log."""

from __future__ import annotations


class DanaError(Exception):
    """A failure DANA understands: `message` is safe to show, `detail` is for the log."""

    status = "error"

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message


class ConfigError(DanaError):
    pass


class QueryRefused(DanaError):
    status = "refused"


class QueryTimeout(DanaError):
    pass


class QueryFailed(DanaError):
    pass


class ConnectionFailed(DanaError):
    pass


class NotFound(DanaError):
    pass


class TranslationFailed(DanaError):
    pass


class LimitExceeded(DanaError):
    status = "refused"
