"""The Socket.IO side of the help desk: `help:open`, `help:message`, `help:reply`, `help:close`, `help:get`,
and the `help:mine` / `help:staff` events.

A thread goes to its attendee's own room (every tab, on every process) and, with its figures, to those who
answer help requests (the help room: AV, moderators, administrator); never to the session room, nor to the
rest of the staff. Both go through the Socket.IO manager (Redis when configured).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from server.domain.helpdesk import HelpThread
from server.domain.roles import Permission, can
from server.helpdesk import HelpDesk

from . import protocol
from .rooms import Connection, Handler, help_room, participant_room

log = logging.getLogger(__name__)


class HelpEvents:
    """Owned by the Hub: the help desk's handlers, and its notifier."""

    def __init__(self, sio: socketio.AsyncServer, desk: HelpDesk) -> None:
        self.sio = sio
        self.desk = desk
        self.handlers: dict[str, Handler] = {
            "help:open": self._on_open,
            "help:message": self._on_message,
            "help:reply": self._on_reply,
            "help:close": self._on_close,
            "help:get": self._on_get,
        }
        assert set(self.handlers) == set(protocol.HELP_EVENTS)

    async def help_changed(self, thread: HelpThread) -> None:
        """The stored thread to its attendee and to staff. A failed emit (Redis away) is logged: the thread
        is stored, the writer's ack carries it, and every page reads the threads again on reconnecting."""
        try:
            if thread.participant_id is not None:
                await self.sio.emit(
                    "help:mine",
                    thread.mine(),
                    room=participant_room(thread.session_id, thread.participant_id),
                )
            await self.sio.emit("help:staff", thread.staff(), room=help_room(thread.session_id))
        except Exception:
            log.exception(
                "help thread %s of session %s was stored but not sent", thread.id, thread.session_id
            )

    async def _on_open(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HelpOpen, payload)
        figures = None if request.figures is None else request.figures.model_dump(exclude_none=True)
        thread = await self.desk.open(
            c.principal, c.session_id, request.category, request.language, request.text, figures
        )
        return {"thread": thread.mine()}

    async def _on_message(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HelpMessage, payload)
        thread = await self.desk.message(c.principal, c.session_id, request.thread_id, request.text)
        return {"thread": thread.mine()}

    async def _on_reply(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HelpReply, payload)
        thread = await self.desk.reply(
            c.principal, c.session_id, request.thread_id, request.text, request.answer
        )
        return {"thread": thread.staff()}

    async def _on_close(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HelpRef, payload)
        thread = await self.desk.close(c.principal, c.session_id, request.thread_id)
        return {"thread": thread.staff()}

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.HelpGet, payload)
        reply: dict[str, Any] = {
            "mine": [thread.mine() for thread in await self.desk.mine(c.principal, c.session_id)]
        }
        if can(c.principal.role, Permission.HELP_ANSWER):
            reply["queue"] = [thread.staff() for thread in await self.desk.queue(c.principal, c.session_id)]
        return reply
