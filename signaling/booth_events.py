"""The Socket.IO side of interpretation booths: `booth:get`, `booth:offer`, `booth:take`, `booth:cough`,
`booth:slow_down`, and the `booth:state`, `booth:floor` and `booth:notice` events to the session's staff.

The booth rules are in server/domain/booths.py, their effect on the relay in server/media/booths.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import socketio

from server.media.booths import BoothDesk

from . import protocol
from .rooms import Connection, Handler, staff_room

log = logging.getLogger(__name__)


class BoothEvents:
    """Owned by the Hub: the booths' handlers, and their notices (a BoothNotifier)."""

    def __init__(self, sio: socketio.AsyncServer, desk: BoothDesk) -> None:
        self.sio = sio
        self.desk = desk
        self._background: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "booth:get": self._on_get,
            "booth:offer": self._on_offer,
            "booth:take": self._on_take,
            "booth:cough": self._on_cough,
            "booth:slow_down": self._on_slow_down,
        }
        assert set(self.handlers) == set(protocol.BOOTH_EVENTS)

    # -- BoothNotifier: to the session's staff (booths, the chair, the moderator, the AV desk) ---

    def booth_changed(self, session_id: int, booth: dict[str, Any]) -> None:
        self._spawn(self.sio.emit("booth:state", booth, room=staff_room(session_id)))

    def booth_floor(self, session_id: int, view: dict[str, Any]) -> None:
        self._spawn(self.sio.emit("booth:floor", view, room=staff_room(session_id)))

    def slow_down(self, session_id: int, notice: dict[str, Any]) -> None:
        self._spawn(self.sio.emit("booth:notice", notice, room=staff_room(session_id)))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- handlers -------------------------------------------------------------------------------

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.BoothGet, payload)
        return await self.desk.state(c.principal, c.session_id)

    async def _on_offer(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self.desk.offer(c.principal, c.session_id, request.language)

    async def _on_take(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self.desk.take(c.principal, c.session_id, request.language)

    async def _on_cough(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothCough, payload)
        return await self.desk.cough(c.principal, c.session_id, request.language, request.on)

    async def _on_slow_down(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self.desk.slow_down(c.principal, c.session_id, request.language)
