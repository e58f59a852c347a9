"""The Socket.IO side of statements sent in advance (issue 21): `statements:get`, and the `statement:attached`
notice.

The notice goes to the session's statement readers' room (the booths, the captioner, moderators and the
administrator: those whose role may read statements join it on connecting), never to the session room: an
attendee or the room display is not told that a statement exists. Through the Socket.IO manager (Redis when
configured), so every process's readers hear of it.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from server.domain.statements import Statement
from server.statements import Statements

from . import protocol
from .rooms import Connection, Handler, statements_room

log = logging.getLogger(__name__)


class StatementEvents:
    """Owned by the Hub: the statements' handler, and their notifier."""

    def __init__(self, sio: socketio.AsyncServer, statements: Statements) -> None:
        self.sio = sio
        self.statements = statements
        self.handlers: dict[str, Handler] = {"statements:get": self._on_get}
        assert set(self.handlers) == set(protocol.STATEMENT_EVENTS)

    async def statement_attached(self, statement: Statement) -> None:
        """Tell the readers. A failed emit (Redis away) is logged: the statement is stored, the uploader's
        reply says so, and the booth pages read the list again on reconnecting."""
        try:
            await self.sio.emit(
                "statement:attached", statement.public(), room=statements_room(statement.session_id)
            )
        except Exception:
            log.exception(
                "statement of request %s in session %s was stored but not told",
                statement.entry_id,
                statement.session_id,
            )

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.StatementsGet, payload)
        listed = await self.statements.list(c.principal, c.session_id)
        return {"statements": [s.public() for s in listed], "max_bytes": self.statements.max_bytes}
