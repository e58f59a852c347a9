"""A short error taxonomy, converted once at each edge (HTTP status, Socket.IO error event)."""

from __future__ import annotations

from typing import Any, ClassVar


class HemicycleError(Exception):
    """A user error: shown to the caller with its code; the connection and the session go on."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(HemicycleError):
    """A field is missing, too long, of the wrong kind or not allowed."""

    code = "invalid_input"
    status = 422


class Unauthenticated(HemicycleError):
    """No token, or a token that is forged, expired or revoked."""

    code = "unauthenticated"
    status = 401


class Forbidden(HemicycleError):
    """The caller's role does not allow this action here."""

    code = "forbidden"
    status = 403


class NotFound(HemicycleError):
    """An unknown event, session or participant."""

    code = "not_found"
    status = 404


class Conflict(HemicycleError):
    """The action does not fit the current state (for example ending a session twice)."""

    code = "conflict"
    status = 409


class RateLimited(HemicycleError):
    """Too many requests from one connection or participant."""

    code = "rate_limited"
    status = 429


class TooManyConnections(HemicycleError):
    """One participant holds as many connections as a person could use (tabs, devices): no more."""

    code = "too_many_connections"
    status = 429


class PayloadTooLarge(HemicycleError):
    """A message or body over the size the protocol allows."""

    code = "payload_too_large"
    status = 413


class MalformedMessage(HemicycleError):
    """The body is not the JSON object the route expects."""

    code = "malformed_json"
    status = 400


class UnsupportedMediaType(HemicycleError):
    """A body sent as something other than the type the route reads (JSON routes take application/json)."""

    code = "unsupported_media_type"
    status = 415
