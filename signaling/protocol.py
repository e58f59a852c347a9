"""Typed, validated protocol messages: the one place that says what a client may send.

docs/protocol.md describes the same events; tests/test_protocol_docs.py keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from server.domain.errors import InvalidInput

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 2048


class Message(BaseModel):
    """Strict: unknown fields and coerced types are refused rather than guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ConnectAuth(Message):
    token: StrictStr = Field(min_length=1, max_length=MAX_TOKEN_CHARS)
    session_id: StrictInt = Field(ge=1)


class SetState(Message):
    state: Literal["scheduled", "live", "ended"]


class PresenceGet(Message):
    pass


# Client -> server events and their payload models.
CLIENT_EVENTS: dict[str, type[Message]] = {
    "session:set_state": SetState,
    "presence:get": PresenceGet,
}

# Server -> client events.
SERVER_EVENTS: tuple[str, ...] = ("welcome", "session:state", "presence", "presence:people", "error")


M = TypeVar("M", bound=Message)


def parse(model: type[M], payload: Any) -> M:
    """Validate a payload; raise InvalidInput naming the first bad field."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidInput("the payload must be a JSON object", details={"field": None})
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidInput(f"{where or 'payload'}: {first['msg']}", details={"field": where}) from None
