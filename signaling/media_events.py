"""Socket.IO events of the media relay: offers and answers, channel switches, ICE, stops and health.

Registered into the Hub's handler table (``Hub.__init__``); every handler checks its payload with
``signaling.protocol`` and the caller with ``server.media.service``. A request for a session whose relay runs
in another process goes there over HTTP (``server.media_http.forward``) with a token minted for the caller's
own grant; the answer comes back the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio
from aiortc.sdp import candidate_from_sdp

from server.media import relay as r
from server.media.errors import MediaError
from server.media.service import HEALTH_VIEWERS, Elsewhere, MediaService, on_air
from server.media_forward import forward, mint_token, resource_path
from server.service import Hemicycle
from server.standing import StandingChecks

from . import protocol
from .rooms import Connection, Handler, participant_room, session_room, staff_room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tag:
    """Who a peer connection belongs to: its Socket.IO connection, for pushes and for cleanup."""

    session_id: int
    participant_id: int
    connection: Connection


@dataclass
class Forwarded:
    """A resource this connection opened on another process's relay."""

    target: Elsewhere
    connection: Connection


class MediaEvents:
    """Owned by the Hub: the media events' handlers, and the relay's notices to clients (MediaNotifier)."""

    def __init__(
        self, sio: socketio.AsyncServer, core: Hemicycle, service: MediaService, standing: StandingChecks
    ) -> None:
        self.sio = sio
        self.core = core
        self.service = service
        self.standing = standing
        self._forwarded: dict[str, Forwarded] = {}
        self._http: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "media:config": self._on_config,
            "media:publish": self._on_publish,
            "media:subscribe": self._on_subscribe,
            "media:channel": self._on_channel,
            "media:ice": self._on_ice,
            "media:stop": self._on_stop,
            "media:health": self._on_health,
        }

    def use_http(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    # -- MediaNotifier --------------------------------------------------------------------------

    def media_stopped(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None:
        # Through the client manager: with Redis, the participant hears it on whichever process they are.
        self._spawn(
            self.sio.emit("media:stopped", payload, room=participant_room(session_id, participant_id))
        )

    def media_health(self, session_id: int, report: dict[str, Any]) -> None:
        self._spawn(self.sio.emit("media:health", report, room=staff_room(session_id)))

    def media_channels(self, session_id: int, on_air: list[str]) -> None:
        payload = {"session_id": session_id, "on_air": on_air}
        self._spawn(self.sio.emit("media:channels", payload, room=session_room(session_id)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- connection end -------------------------------------------------------------------------

    async def disconnected(self, connection: Connection) -> None:
        """A connection that goes away takes its peer connections with it."""
        try:
            await self._disconnected(connection)
        except Exception:
            log.exception("freeing the media of a closed connection failed")

    async def _disconnected(self, connection: Connection) -> None:
        relay = self.service.relay(connection.session_id)
        if relay is not None:
            mine = [
                p for p in relay.peers.values() if isinstance(p.tag, Tag) and p.tag.connection is connection
            ]
            for peer in mine:
                await relay.stop(peer.id, "disconnected")
        for resource_id, forwarded in list(self._forwarded.items()):
            if forwarded.connection is connection:
                del self._forwarded[resource_id]
                try:
                    await self._forward(connection, forwarded.target, "DELETE", resource_id)
                except MediaError:
                    log.warning("could not stop forwarded media resource %s", resource_id)

    # -- handlers -------------------------------------------------------------------------------

    async def _stands(self, c: Connection) -> None:
        """A connection opened before a link was withdrawn starts no media (as over WHIP and WHEP, whose
        token is checked on each request); the relay ends what it already had at its next check. Staff
        events were checked by the hub already."""
        if not c.principal.role.is_staff:
            await self.standing.check(c.principal, c.session_id)

    async def _on_config(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.MediaConfig, payload)
        await self._stands(c)
        await self.service.check_session(c.principal, c.session_id)
        relay = self.service.relay(c.session_id)
        # Which interpretation channels are on air, where this process runs the relay (else null: unknown
        # here; the next `media:channels` says).
        channels_on_air = on_air(relay) if relay is not None else None
        return {
            **self.service.ice_servers(c.principal),
            "channels": list(r.CHANNELS),
            "on_air": channels_on_air,
        }

    async def _on_publish(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaPublish, payload)
        await self._stands(c)
        source = await self.service.publish_source(c.principal, c.session_id, request.source, request.channel)
        located = await self.service.locate(c.session_id)
        if isinstance(located, Elsewhere):
            query: dict[str, str] = {"source": request.source}
            if request.channel:
                query["channel"] = request.channel
            return await self._forward_offer(c, located, "whip", request.sdp, query)
        peer = await self.service.publish(located, c.principal, source, request.sdp, self._tag(c))
        return {**peer.public(), "sdp": peer.answer}

    async def _on_subscribe(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaSubscribe, payload)
        await self._stands(c)
        source = await self.service.view_source(
            c.principal, c.session_id, request.source, request.participant_id
        )
        located = await self.service.locate_view(c.session_id, source)
        if isinstance(located, Elsewhere):
            query = {"source": request.source, "audio_only": "1" if request.audio_only else "0"}
            if request.channel:
                query["channel"] = request.channel
            if request.participant_id:
                query["participant_id"] = str(request.participant_id)
            return await self._forward_offer(c, located, "whep", request.sdp, query)
        peer = await self.service.view(
            located, c.principal, source, request.sdp, request.channel, request.audio_only, self._tag(c)
        )
        return {**peer.public(), "sdp": peer.answer}

    async def _on_channel(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaChannel, payload)
        forwarded = self._forwarded.get(request.resource_id)
        if forwarded is not None and forwarded.connection is c:
            status, data = await self._forward(
                c, forwarded.target, "POST", request.resource_id, "/channel", {"channel": request.channel}
            )
            return self._forwarded_reply(status, data)
        relay = self._local(c)
        peer = await self.service.set_channel(relay, c.principal, request.resource_id, request.channel)
        return peer.public()

    async def _on_ice(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaIce, payload)
        if request.resource_id in self._forwarded:
            raise MediaError(
                "this resource runs on another process: send complete offers (gathered candidates)",
                code="ice_not_forwarded",
            )
        relay = self._local(c)
        peer = self.service.own_peer(relay, c.principal, request.resource_id)
        text = request.candidate.removeprefix("a=").removeprefix("candidate:")
        if not text:
            return {"resource_id": peer.id, "added": False}
        try:
            candidate = candidate_from_sdp(text)
        except (ValueError, IndexError):
            raise MediaError("the ICE candidate is not valid", code="invalid_candidate") from None
        candidate.sdpMid = request.sdp_mid
        candidate.sdpMLineIndex = request.sdp_mline_index
        try:
            await peer.pc.addIceCandidate(candidate)
        except Exception:
            raise MediaError(
                "the ICE candidate does not fit this connection", code="invalid_candidate"
            ) from None
        return {"resource_id": peer.id, "added": True}

    async def _on_stop(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaStop, payload)
        forwarded = self._forwarded.get(request.resource_id)
        if forwarded is not None and forwarded.connection is c:
            del self._forwarded[request.resource_id]
            status, data = await self._forward(c, forwarded.target, "DELETE", request.resource_id)
            if status >= 400:
                return self._forwarded_reply(status, data)
            return {"resource_id": request.resource_id, "stopped": True}
        relay = self._local(c)
        await self.service.stop_peer(relay, c.principal, request.resource_id)
        return {"resource_id": request.resource_id, "stopped": True}

    async def _on_health(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.MediaHealth, payload)
        relay = self.service.relay(c.session_id)
        if request.resource_id is not None and request.resource_id not in self._forwarded:
            if relay is None:
                raise MediaError("no such media resource", code="media_not_found", status=404)
            measures = request.model_dump(exclude={"resource_id"}, exclude_none=True)
            self.service.report(relay, c.principal, request.resource_id, measures)
        if c.principal.role not in HEALTH_VIEWERS:
            return {"recorded": request.resource_id is not None}
        if relay is None:
            return {"session_id": c.session_id, "sources": {}, "viewers": {}}
        return await self.service.health(relay)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _tag(c: Connection) -> Tag:
        return Tag(c.session_id, c.principal.participant.id, c)

    def _local(self, c: Connection) -> r.SessionRelay:
        relay = self.service.relay(c.session_id)
        if relay is None:
            raise MediaError("no such media resource", code="media_not_found", status=404)
        return relay

    async def _forward_offer(
        self, c: Connection, target: Elsewhere, kind: str, sdp: str, query: dict[str, str]
    ) -> dict[str, Any]:
        if self._http is None:
            raise MediaError("media forwarding is not ready", code="relay_unreachable", status=503)
        status, headers, data = await forward(
            self._http,
            self.core,
            target,
            "POST",
            f"/api/sessions/{c.session_id}/{kind}",
            mint_token(self.core, c.principal),
            sdp.encode(),
            "application/sdp",
            query,
        )
        if status != 201:
            return self._forwarded_reply(status, data)
        resource_id = headers.get("Location", "").rsplit("/", 1)[-1]
        self._forwarded[resource_id] = Forwarded(target, c)
        return {
            "resource_id": resource_id,
            "kind": "publish" if kind == "whip" else "view",
            "source": query["source"],
            "participant_id": c.principal.participant.id,
            "owner": target.owner.instance_id,
            "sdp": data.decode(),
        }

    async def _forward(
        self,
        c: Connection,
        target: Elsewhere,
        method: str,
        resource_id: str,
        suffix: str = "",
        body: dict[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        if self._http is None:
            raise MediaError("media forwarding is not ready", code="relay_unreachable", status=503)
        status, _headers, data = await forward(
            self._http,
            self.core,
            target,
            method,
            resource_path(c.session_id, resource_id) + suffix,
            mint_token(self.core, c.principal),
            json.dumps(body).encode() if body is not None else None,
            "application/json" if body is not None else None,
        )
        return status, data

    @staticmethod
    def _forwarded_reply(status: int, data: bytes) -> dict[str, Any]:
        """The owner's JSON error, raised here as the same error."""
        if status < 400:
            try:
                parsed: dict[str, Any] = json.loads(data or b"{}")
            except ValueError:
                parsed = {}
            return parsed
        try:
            error = json.loads(data)["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "relay_error", f"the media relay answered {status}"
        raise MediaError(message, code=code, status=status)
