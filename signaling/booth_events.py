"""The Socket.IO side of interpretation booths: `booth:get`, `booth:offer`, `booth:take`, `booth:cough`,
`booth:slow_down`, and the `booth:state`, `booth:floor` and `booth:notice` events to the session's staff.

The booth rules are in server/domain/booths.py, their effect on the relay in server/media/booths.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

import aiohttp
import socketio

from server.media.errors import MediaError
from server.media.service import Elsewhere, MediaService
from server.media_forward import forward, mint_token

from . import protocol
from .rooms import Connection, Handler, staff_room

log = logging.getLogger(__name__)


class BoothEvents:
    """Owned by the Hub: the booths' handlers, and their notices (a BoothNotifier). A booth's state lives with
    the session's relay: a request reaching a process that does not run it goes to the one that does, over
    HTTP (the routes of server/media_http.py), with a token minted for the caller's own grant."""

    def __init__(self, sio: socketio.AsyncServer, media: MediaService) -> None:
        self.sio = sio
        self.media = media
        self.desk = media.booths
        self._http: aiohttp.ClientSession | None = None
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

    def slow_down(self, session_id: int, notice: dict[str, Any]) -> None:
        self._spawn(self.sio.emit("booth:notice", notice, room=staff_room(session_id)))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def use_http(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    # -- handlers -------------------------------------------------------------------------------

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.BoothGet, payload)
        target = await self.media.elsewhere(c.session_id)
        if target is not None:
            return await self._forward(c, target, "GET", "")
        return await self.desk.state(c.principal, c.session_id)

    async def _on_offer(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self._act(c, request.language, "offer")

    async def _on_take(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self._act(c, request.language, "take")

    async def _on_cough(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothCough, payload)
        return await self._act(c, request.language, "cough", request.on)

    async def _on_slow_down(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.BoothRef, payload)
        return await self._act(c, request.language, "slow_down")

    async def _act(self, c: Connection, language: str, action: str, on: bool = False) -> dict[str, Any]:
        target = await self.media.elsewhere(c.session_id)
        if target is not None:
            body = {"on": on} if action == "cough" else None
            return await self._forward(c, target, "POST", f"/{language}/{action}", body)
        return await self.desk.act(c.principal, c.session_id, language, action, on)

    async def _forward(
        self, c: Connection, target: Elsewhere, method: str, suffix: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The request on the process that runs the relay; its answer, or its error raised here as is."""
        if self._http is None:
            raise MediaError("media forwarding is not ready", code="relay_unreachable", status=503)
        status, _headers, data = await forward(
            self._http,
            self.media.core,
            target,
            method,
            f"/api/sessions/{c.session_id}/booths{suffix}",
            mint_token(self.media.core, c.principal),
            json.dumps(body).encode() if body is not None else None,
            "application/json" if body is not None else None,
        )
        try:
            parsed = json.loads(data or b"{}")
        except ValueError:
            parsed = {}
        if status < 400 and isinstance(parsed, dict):
            return parsed
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and "code" in error and "message" in error:
            raise MediaError(
                str(error["message"]), code=str(error["code"]), status=status, details=error.get("details")
            )
        raise MediaError(f"the media relay answered {status}", code="relay_error", status=status)
