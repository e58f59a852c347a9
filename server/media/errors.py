"""The media relay's one error type: a user error with a code and the HTTP status WHIP/WHEP answer with."""

from __future__ import annotations

from typing import Any

from server.domain.errors import HemicycleError


class MediaError(HemicycleError):
    """An offer or a media request that cannot be served; nothing was kept of it."""

    code = "media_error"
    status = 400

    def __init__(self, message: str, *, code: str, status: int = 400, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status  # type: ignore[misc]
