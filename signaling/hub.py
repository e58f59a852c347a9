"""The Socket.IO adapter: connections, rooms, validated events, coalesced presence broadcasts.

Connection bookkeeping is per process (a socket lives in one process); everything a client may see is read
from the database, and broadcasts go through python-socketio's manager (Redis when configured), so every
process's clients get them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web

from server.domain.errors import HemicycleError, Unauthenticated
from server.domain.model import Principal, SessionInfo
from server.domain.ratelimit import FloodGuard
from server.domain.roles import ROLE_PERMISSIONS, Permission
from server.service import Hemicycle

from . import protocol
from .protocol import CLIENT_EVENTS, MAX_MESSAGE_BYTES, ConnectAuth

log = logging.getLogger(__name__)

# How long presence changes are gathered before one broadcast: joins in a burst become one message.
PRESENCE_COALESCE_SECONDS = 0.2


def session_room(session_id: int) -> str:
    return f"session:{session_id}"


def staff_room(session_id: int) -> str:
    return f"session:{session_id}:staff"


@dataclass
class Connection:
    principal: Principal
    session_id: int
    guard: FloodGuard


Handler = Callable[[Connection, Any], Awaitable[dict[str, Any]]]


class Hub:
    """Owns the python-socketio server of one process and implements the use cases' Notifier."""

    def __init__(self, core: Hemicycle, redis_url: str | None) -> None:
        self.core = core
        self.instance_id = core.instance_id
        manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            client_manager=manager,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self._connections: dict[str, Connection] = {}
        self._dirty: set[int] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {
            "session:set_state": self._on_set_state,
            "presence:get": self._on_presence_get,
        }
        assert set(self._handlers) == set(CLIENT_EVENTS), "every protocol event needs a handler"
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_any)
        core.notifier = self

    # -- lifecycle ------------------------------------------------------------------------------

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def start(self) -> None:
        await self.core.store.register_instance(self.instance_id, socket.gethostname(), os.getpid())
        for session_id in await self.core.store.reap_instances(self.core.presence_ttl):
            self.presence_changed(session_id)
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="hemicycle-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat_task:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
        for sid in list(self._connections):
            await self.sio.disconnect(sid)
        self._connections.clear()
        sessions = await self.core.store.drop_instance(self.instance_id)
        self._dirty |= sessions
        await self._flush_now()
        if self._flush_task:
            self._flush_task.cancel()
            await asyncio.gather(self._flush_task, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.core.settings.heartbeat_seconds)
            try:
                await self.core.store.heartbeat(self.instance_id)
                for session_id in await self.core.store.reap_instances(self.core.presence_ttl):
                    self.presence_changed(session_id)
            except Exception:
                log.exception("heartbeat failed; retrying at the next beat")

    # -- Notifier -------------------------------------------------------------------------------

    async def session_changed(self, session: SessionInfo, actor: Principal) -> None:
        payload = {
            "session": session.public(),
            "by": {
                "id": actor.participant.id,
                "name": actor.participant.display_name,
                "role": actor.role.value,
            },
        }
        await self.sio.emit("session:state", payload, room=session_room(session.id))

    def presence_changed(self, session_id: int) -> None:
        self._dirty.add(session_id)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later(), name="hemicycle-presence")

    async def _flush_later(self) -> None:
        await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
        await self._flush_now()

    async def _flush_now(self) -> None:
        while self._dirty:
            session_id = self._dirty.pop()
            try:
                snapshot = await self.core.presence(session_id)
                await self.sio.emit("presence", snapshot.summary(), room=session_room(session_id))
                await self.sio.emit(
                    "presence:people",
                    {"session_id": session_id, "people": snapshot.roster()},
                    room=staff_room(session_id),
                )
            except Exception:
                log.exception("presence broadcast for session %s failed", session_id)

    # -- connection -----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            request = protocol.parse(ConnectAuth, auth)
            principal, _expires = await self.core.authenticate(request.token)
            session = await self.core.session_for(principal, request.session_id, Permission.SESSION_VIEW)
        except HemicycleError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except Exception:
            log.exception("connect failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        try:
            welcome = await self._join(sid, principal, session)
        except Exception:
            log.exception("join failed for %s", sid)
            self._connections.pop(sid, None)
            await self.core.store.remove_presence(self.instance_id, sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        await self.sio.emit("welcome", welcome, to=sid)
        self.presence_changed(session.id)
        log.info("%s joined session %s as %s", principal.participant.id, session.id, principal.role.value)

    async def _join(self, sid: str, principal: Principal, session: SessionInfo) -> dict[str, Any]:
        """Record the connection durably, put it in its rooms and build its welcome."""
        self._connections[sid] = Connection(
            principal, session.id, FloodGuard(self.core.settings.events_per_second)
        )
        await self.core.store.add_presence(self.instance_id, sid, principal, session.id)
        await self.sio.enter_room(sid, session_room(session.id))
        if principal.role.is_staff:
            await self.sio.enter_room(sid, staff_room(session.id))
        snapshot = await self.core.presence(session.id)
        event = await self.core.store.get_event(session.event_id)
        welcome: dict[str, Any] = {
            "me": principal.public(),
            "session": session.public(),
            "event": event.public(),
            "permissions": sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
            "presence": snapshot.summary(),
        }
        if principal.role.is_staff:
            welcome["people"] = snapshot.roster()
        return welcome

    async def _on_disconnect(self, sid: str, *_reason: Any) -> None:
        connection = self._connections.pop(sid, None)
        if connection is None:
            return
        try:
            session_id = await self.core.store.remove_presence(self.instance_id, sid)
        except Exception:
            log.exception("could not remove presence of %s", sid)
            return
        if session_id is not None:
            self.presence_changed(session_id)

    # -- events ---------------------------------------------------------------------------------

    async def _on_any(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        connection = self._connections.get(sid)
        if connection is None:
            return await self._fail(
                sid, event, Unauthenticated("not connected to a session", code="not_joined")
            )
        verdict = connection.guard.check(time.monotonic())
        if verdict == "flood":
            log.warning("disconnecting %s: flooding", sid)
            await self.sio.emit(
                "error",
                {"code": "rate_limited", "message": "too many messages: disconnected", "event": event},
                to=sid,
            )
            await self.sio.disconnect(sid)
            return {"ok": False, "error": {"code": "rate_limited", "message": "too many messages"}}
        if verdict == "limited":
            return await self._fail(
                sid, event, HemicycleError("too many messages: slow down", code="rate_limited")
            )
        handler = self._handlers.get(event)
        if handler is None:
            return await self._fail(
                sid, event, HemicycleError(f"unknown event {event[:64]!r}", code="unknown_event_name")
            )
        if len(args) > 1:
            return await self._fail(
                sid, event, HemicycleError("send one payload object", code="invalid_input")
            )
        try:
            data = await handler(connection, args[0] if args else None)
        except HemicycleError as exc:
            return await self._fail(sid, event, exc)
        except Exception:
            log.exception("event %s from %s failed", event, sid)
            return await self._fail(sid, event, HemicycleError("internal error", code="internal"))
        return {"ok": True, "data": data}

    async def _fail(self, sid: str, event: str, exc: HemicycleError) -> dict[str, Any]:
        error = exc.as_dict()
        await self.sio.emit("error", {**error, "event": event[:64]}, to=sid)
        return {"ok": False, "error": error}

    async def _on_set_state(self, connection: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.SetState, payload)
        session = await self.core.set_state(connection.principal, connection.session_id, request.state)
        return {"session": session.public()}

    async def _on_presence_get(self, connection: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.PresenceGet, payload)
        snapshot = await self.core.presence(connection.session_id)
        data: dict[str, Any] = {"presence": snapshot.summary()}
        if connection.principal.role.is_staff:
            data["people"] = snapshot.roster()
        return data
