"""The one error type services raise for a refusal a user should read."""

from __future__ import annotations

from typing import Any


class CasebridgeError(Exception):
    """A refusal with a message fit for the person who caused it (no internals, no stack trace)."""

    status_code = 400
    title = "Request refused"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(CasebridgeError):
    status_code = 404
    title = "Not found"


class ForbiddenError(CasebridgeError):
    status_code = 403
    title = "Forbidden"


class TooLargeError(CasebridgeError):
    status_code = 413
    title = "Content too large"


class UploadTooSlowError(CasebridgeError):
    status_code = 408
    title = "Request body too slow"


class ConflictError(CasebridgeError):
    status_code = 409
    title = "Conflict"
