"""The Socket.IO rooms of a session and what the server knows of one connection.

Every event module addresses clients through these room names, whichever process holds their sockets (the
client manager publishes through Redis when configured).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from server.domain.model import Principal
from server.domain.ratelimit import FloodGuard


def session_room(session_id: int) -> str:
    return f"session:{session_id}"


def staff_room(session_id: int) -> str:
    return f"session:{session_id}:staff"


def statements_room(session_id: int) -> str:
    """Those who may read statements sent in advance (Permission.STATEMENT_READ): booths, captioner,
    moderators, administrator."""
    return f"session:{session_id}:statements"


def help_room(session_id: int) -> str:
    """Those who answer help requests (Permission.HELP_ANSWER): AV technicians, moderators, administrator.
    Not the whole staff room: an attendee's request and their link's figures are not the chair's, the
    captioner's or the booths' to read."""
    return f"session:{session_id}:help"


def participant_room(session_id: int, participant_id: int) -> str:
    """Every connection (tab, device, process) of one participant in one session."""
    return f"session:{session_id}:participant:{participant_id}"


@dataclass
class Connection:
    principal: Principal
    session_id: int
    guard: FloodGuard


# An event's handler: the connection and its payload in, the acknowledgement's data out.
Handler = Callable[[Connection, Any], Awaitable[dict[str, Any]]]
