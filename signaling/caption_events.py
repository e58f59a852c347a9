"""The Socket.IO side of live captions: `caption:post`, `captions:get`, and the `caption` broadcast.

A line is stored before it is acknowledged or shown; the broadcast goes to the session's room through the
Socket.IO manager (Redis when configured), so every process's clients get it. Lines go out one by one, not
coalesced: each is a few hundred bytes and readers want it at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio

from server.captions import Captions, recent_view
from server.domain.captions import CAPTION_WRITES_BURST, CAPTION_WRITES_PER_SECOND, CaptionLine
from server.domain.ratelimit import TokenBucket

from . import protocol
from .rooms import Connection, Handler, session_room

log = logging.getLogger(__name__)


class CaptionEvents:
    """Owned by the Hub: the caption events' handlers and the per-captioner limit of this process."""

    def __init__(self, sio: socketio.AsyncServer, captions: Captions) -> None:
        self.sio = sio
        self.captions = captions
        self._buckets: dict[int, TokenBucket] = {}
        self.handlers: dict[str, Handler] = {
            "caption:post": self._on_post,
            "captions:get": self._on_get,
        }
        assert set(self.handlers) == set(protocol.CAPTION_EVENTS)

    def allows(self, connection: Connection, event: str) -> bool:
        """The per-captioner limit, across their tabs on this process. Unlike attendees' limits it applies
        to staff too: captioners are staff, and a runaway captioning tool should not flood a session."""
        if event != "caption:post":
            return True
        key = connection.principal.participant.id
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(CAPTION_WRITES_PER_SECOND, CAPTION_WRITES_BURST)
        return bucket.take(time.monotonic())

    async def caption_posted(self, line: CaptionLine) -> None:
        """The stored line to everyone. A failed broadcast (Redis away) is logged, not turned into a refusal:
        the line is in the transcript, the captioner's ack shows it, and every welcome carries it."""
        try:
            await self.sio.emit("caption", line.public(), room=session_room(line.session_id))
        except Exception:
            log.exception("caption %s of session %s was stored but not broadcast", line.seq, line.session_id)

    async def welcome(self, session_id: int) -> dict[str, Any]:
        return recent_view(await self.captions.recent(session_id))

    async def _on_post(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.CaptionPost, payload)
        line = await self.captions.post(c.principal, c.session_id, request.language, request.text)
        return {"caption": line.public()}

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.CaptionsGet, payload)
        return {"captions": await self.welcome(c.session_id)}
