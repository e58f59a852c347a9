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

Leaving is indexed as well: python-socketio finds the rooms a closing connection was in by looking through
every room of the namespace, and each connection has two of its own (its sid's and its participant's), so a
crowd of N leaving at once (the end of a session, a venue's network dropping) cost N x 2N membership checks:
at 5,000, twelve seconds during which the process answered nobody. These managers keep each connection's
rooms as it enters and leaves them, and a connection leaves exactly those.

Signals (`signal`, `on_signal`) tell every process, this one included, that something changed, so that each
builds and sends its own connections' messages (emitted with ``ignore_queue``): a paced broadcast then costs
each connection what one process sends, however many processes make changes. Through Redis a signal travels
as python-socketio's own ``emit`` message, for an event no client has and a room nobody is in: a process that
does not know signals delivers it to no one.

What this relies on in python-socketio 5.18.1 (pinned; tests/test_redis_channel.py and the multi-process tests
run it against Redis): ``AsyncPubSubManager`` calls ``_handle_emit(message)`` for every ``emit`` message of
another process (its own are skipped by ``host_id``), publishes through ``_publish(data)``, and listens
through ``_redis_listen_with_retries()`` (``AsyncRedisManager``), whose ``_get_redis_module()`` gives the
redis module; ``emit(..., ignore_queue=True)`` delivers to this process's connections only. Every change
to a room goes through ``BaseManager.basic_enter_room`` and ``basic_leave_room`` (``pre_connect``,
``connect``, ``enter_room``, ``leave_room``, ``close_room`` and ``basic_disconnect`` call them), and
``basic_disconnect`` then clears the connection's callbacks and pending marks, as the override below does
(tests/test_fanout_rooms.py compares the two).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from server.limits import RedisHooks

from . import wsdirect

log = logging.getLogger(__name__)

YIELD_EVERY = 256
# Reaching Redis again after losing it: the first wait, doubled up to the last.
RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
# The health check's PING to Redis.
PROBE_SECONDS = 1.0
# A signal's event name and room: no client sends or joins either (signaling/rooms.py names every room a
# connection enters).
SIGNAL_EVENT = "hemicycle:signal"
SIGNAL_ROOM = "hemicycle:signals"

SignalHandler = Callable[[dict[str, Any]], Awaitable[None]]


class DirectEmit(socketio.AsyncManager):  # type: ignore[misc]
    """The in-process manager, with direct room broadcasts and signals to this process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signal_handlers: dict[str, SignalHandler] = {}
        # (namespace, sid) -> the rooms it is in, in the order it entered them (None: the namespace itself).
        self._rooms_of: dict[tuple[str, str], dict[Any, None]] = {}

    # -- rooms, indexed by connection --------------------------------------------------------------

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """As python-socketio's, leaving the rooms the connection is in rather than looking through all."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self._rooms_of.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]

    def on_signal(self, kind: str, handler: SignalHandler) -> None:
        """`handler(data)` runs on every process for each `signal(kind, data)`."""
        self._signal_handlers[kind] = handler

    async def signal(self, kind: str, data: dict[str, Any]) -> None:
        """Tell every process, this one first (one process: only this one)."""
        await self._signalled({"kind": kind, "data": data})

    async def _signalled(self, message: Any) -> None:
        kind, data = (message.get("kind"), message.get("data")) if isinstance(message, dict) else (None, None)
        handler = self._signal_handlers.get(kind) if isinstance(kind, str) else None
        if handler is None or not isinstance(data, dict):
            log.warning("ignored a signal of kind %r", kind)
            return
        try:
            await handler(data)
        except Exception:
            log.exception("signal %r failed", kind)

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
    """Fan-out through Redis; each process then delivers to its own sockets directly.

    python-socketio's listener waits 1, 2, 4... up to 60 seconds between attempts to reach Redis again, so a
    short outage left a process deaf for a quarter of a minute after Redis came back; here it tries again
    within RETRY_MAX_SECONDS, and says whether it is subscribed (`listening`) for the health check. A publish
    that fails is logged once per outage, not once per message.
    """

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.listening = False
        self._publish_failing = False
        self._publisher: Any = None
        self._probe: Any = None
        self.hooks = RedisHooks()

    def _client(self, **options: Any) -> Any:
        # redis:// and unix:// alone (settings refuse the rest): no sentinel, as Hemicycle documents.
        return self._get_redis_module().Redis.from_url(self.redis_url, **options)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        delay = RETRY_FIRST_SECONDS
        lost = False
        while True:
            client = self._client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if lost:
                    self.hooks.reconnect("fanout")
                    lost = False
                if not self.listening and delay > RETRY_FIRST_SECONDS:
                    log.warning("Redis is reachable again: fan-out resumed")
                self.listening = True
                delay = RETRY_FIRST_SECONDS
                async for message in pubsub.listen():
                    yield message
            except Exception as exc:
                self.hooks.error("fanout")
                lost = True
                if self.listening or delay == RETRY_FIRST_SECONDS:
                    log.warning("lost Redis (%s): trying again every %.0f s at most", exc, RETRY_MAX_SECONDS)
                self.listening = False
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)
            finally:
                # The connection that failed is closed, rather than one left behind per attempt.
                for closing in (pubsub, client):
                    with contextlib.suppress(Exception):
                        await closing.aclose()

    async def signal(self, kind: str, data: dict[str, Any]) -> None:
        """Tell this process, then the others through Redis (as an `emit` message, see the module's doc)."""
        message = {"kind": kind, "data": data}
        await self._signalled(message)
        await self._publish(
            {
                "method": "emit",
                "event": SIGNAL_EVENT,
                "data": [message],
                "binary": False,
                "namespace": "/",
                "room": SIGNAL_ROOM,
                "skip_sid": None,
                "callback": None,
                "host_id": self.host_id,
            }
        )

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # Another process's message (python-socketio skips this process's own).
        if message.get("event") == SIGNAL_EVENT and message.get("room") == SIGNAL_ROOM:
            data = message.get("data")
            await self._signalled(data[0] if isinstance(data, list) and data else None)
            return
        await super()._handle_emit(message)

    async def _publish(self, data: Any) -> Any:
        # One client for the life of the process: its pool reconnects by itself once Redis is back.
        if self._publisher is None:
            self._publisher = self._client()
        started = time.perf_counter()
        try:
            result = await self._publisher.publish(self.channel, self.json.dumps(data))
        except Exception as exc:
            self.hooks.error("fanout")
            if not self._publish_failing:
                log.warning("cannot publish to Redis (%s): other processes miss messages", exc)
            self._publish_failing = True
            return None
        self._publish_failing = False
        self.hooks.round_trip("fanout", time.perf_counter() - started)
        return result

    async def reachable(self) -> bool:
        """Subscribed, and Redis answers a PING within PROBE_SECONDS."""
        if not self.listening:
            return False
        if self._probe is None:
            self._probe = self._client(socket_connect_timeout=PROBE_SECONDS, socket_timeout=PROBE_SECONDS)
        try:
            return bool(await asyncio.wait_for(self._probe.ping(), PROBE_SECONDS))
        except Exception:
            return False

    async def close(self) -> None:
        """Close the clients this manager opened besides its listener (cancelled with the server)."""
        for client in (self._probe, self._publisher):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._probe = self._publisher = None


async def reachable(manager: socketio.AsyncManager) -> bool | None:
    """Whether the fan-out reaches Redis now; None when there is no Redis (one process)."""
    return await manager.reachable() if isinstance(manager, DirectEmitRedis) else None


def fanout_up(manager: socketio.AsyncManager) -> bool:
    """Without a probe: is this process subscribed (always, with no Redis)?"""
    return manager.listening if isinstance(manager, DirectEmitRedis) else True


def manager(redis_url: str | None, channel: str = "hemicycle") -> socketio.AsyncManager:
    """In-process, or through Redis on the deployment's own pub/sub channel."""
    return DirectEmitRedis(redis_url, channel=channel) if redis_url else DirectEmit()
