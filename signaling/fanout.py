"""Room broadcasts without a task per recipient.

python-socketio's manager sends a room message by creating one asyncio task per recipient and waiting for
them all. Each of those tasks does two non-blocking steps (a ping-timeout check, a put on the socket's
unbounded outgoing queue), so for a session of thousands the tasks themselves are most of the cost of a
broadcast. These managers make the same calls one after the other instead, through engine.io's public
`send_packet`, yielding to the event loop every few hundred recipients so other work is not held up. The
message is encoded once, as python-socketio does; messages that expect acknowledgements are left to it.

With engine.io's server from `signaling/wsdirect.py`, the websocket frame is built once as well, and each
websocket recipient whose writer is idle gets it in one `transport.write`, without waking its writer task;
the others (polling, a full buffer, packets still queued) get the packet through engine.io's queue.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from . import wsdirect

YIELD_EVERY = 256


class DirectEmit(socketio.AsyncManager):  # type: ignore[misc]
    """The in-process manager, with direct room broadcasts."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        # As python-socketio does: a tuple is several arguments, anything else one (None: none).
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        # A list first: the room may change while this yields.
        recipients = [eio_sid for sid, eio_sid in self.get_participants(namespace, room) if sid not in skip]
        eio = self.server.eio
        if isinstance(eio, wsdirect.WsDirectServer) and len(frames) == 1:
            (only,) = frames
            wire = wsdirect.frame(only.encode())
            now = time.time()
            for index, eio_sid in enumerate(recipients, start=1):
                if not eio.write(eio_sid, wire, now):
                    await eio.queue_packet(eio_sid, only)
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    now = time.time()
            return
        for index, eio_sid in enumerate(recipients, start=1):
            for frame in frames:
                await eio.send_packet(eio_sid, frame)
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class DirectEmitRedis(socketio.AsyncRedisManager, DirectEmit):  # type: ignore[misc]
    """Fan-out through Redis; each process then delivers to its own sockets directly."""


def manager(redis_url: str | None, channel: str = "hemicycle") -> socketio.AsyncManager:
    """In-process, or through Redis on the deployment's own pub/sub channel."""
    return DirectEmitRedis(redis_url, channel=channel) if redis_url else DirectEmit()
