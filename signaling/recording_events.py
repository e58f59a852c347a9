"""The Socket.IO side of recording: `recording:start`, `recording:stop`, `recording:get`, and the `recording`
event every connection of the session gets when a recording starts, stops or fails (through the Socket.IO
manager: every process's connections)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio

from server.domain.recording import Recording
from server.recording.service import Recordings

from . import protocol
from .rooms import Connection, Handler, session_room

log = logging.getLogger(__name__)


class RecordingEvents:
    """Owned by the Hub: the recording handlers, and the `recording` broadcast (the RecordingNotifier)."""

    def __init__(self, sio: socketio.AsyncServer, recordings: Recordings) -> None:
        self.sio = sio
        self.recordings = recordings
        self._background: set[asyncio.Task[None]] = set()
        self.handlers: dict[str, Handler] = {
            "recording:start": self._on_start,
            "recording:stop": self._on_stop,
            "recording:get": self._on_get,
        }
        assert set(self.handlers) == set(protocol.RECORDING_EVENTS)

    def recording_changed(self, recording: Recording) -> None:
        task = asyncio.ensure_future(self._emit(recording))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _emit(self, recording: Recording) -> None:
        try:
            await self.sio.emit(
                "recording", {"recording": recording.public()}, room=session_room(recording.session_id)
            )
        except Exception:
            log.exception("recording broadcast to session %s failed", recording.session_id)

    async def flush_all(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _on_start(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.RecordingControl, payload)
        recording = await self.recordings.start(c.principal, c.session_id)
        return {"recording": recording.public()}

    async def _on_stop(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.RecordingControl, payload)
        recording = await self.recordings.stop(c.principal, c.session_id)
        return {"recording": recording.public()}

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.RecordingControl, payload)
        recording = await self.recordings.current(c.principal, c.session_id)
        return {"recording": recording.public() if recording else None}
