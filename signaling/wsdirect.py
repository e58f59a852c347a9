"""Writing to an attendee's websocket without engine.io's writer task, and every use of engine.io's and
aiohttp's internals this needs, in one place.

engine.io sends each packet by putting it on the socket's queue; the socket's writer task wakes, takes it
(``asyncio.wait_for(queue.get(), ...)``: on Python 3.11 one more task per packet), encodes it and has
aiohttp build and write the websocket frame. For a broadcast to thousands that is one task wake-up and one
frame build per recipient. Server-to-client frames are not masked, so an uncompressed frame is the same
bytes for every connection: ``WsDirectServer.write`` puts those bytes on a socket's transport at once, when
that is provably the same as what the writer would do, and otherwise leaves the packet to the queue.

A packet is written directly only if, at that moment, all of these hold (``WsDirectServer._writable``):

- the socket is on the websocket transport (``upgraded``, not ``upgrading``), neither ``closing`` nor
  ``closed``, and its ping has not timed out (engine.io's own ``send`` closes such a socket: left to it);
- its queue is empty and its one consumer, the websocket writer, is parked in ``queue.get()`` with nothing
  in hand (``ParkingQueue.parked``). Whatever was queued before has then been written to the transport, so
  the direct write comes after it; whatever is queued after comes after the direct write. Order holds
  whichever path each packet takes, so engine.io's own sends (pings, the close packet) can keep the queue;
- aiohttp's response is open and uncompressed, and the transport is open with nothing in its write buffer.
  A client that does not read fills its buffer, its packets take the queue and its writer waits for it
  (``drain``), as before: it holds up no one else, and its own packets keep their order.

What this relies on, checked against python-engineio 4.15.1, python-socketio 5.18.1 and aiohttp 3.14.5
(pinned in pyproject.toml; ``check_versions`` falls back to stock engine.io on any other version, and
tests/test_wsdirect.py fails loudly when an assumption no longer holds):

1. engine.io: ``BaseSocket.__init__`` makes its queue with ``server.create_queue()``; after the upgrade the
   only consumer of the queue is the writer task in ``AsyncSocket._websocket_handler``, which waits in
   ``queue.get()`` (through ``AsyncSocket.poll``) and sends what it takes with ``ws.send(pkt.encode())``.
2. engine.io: ``server._async['websocket']`` is the driver's ``WebSocket`` class, called as
   ``cls(socket._websocket_handler, server)`` then ``await ws(environ)``; the aiohttp driver's ``__call__``
   builds the ``WebSocketResponse``, prepares it and awaits the handler. Our subclass does the same with
   ``compress=False`` and records the response and transport on the socket.
3. engine.io: ``AsyncSocket`` attributes ``upgraded``, ``upgrading``, ``closing``, ``closed``, ``last_ping``,
   ``queue``; ``AsyncServer.sockets`` (sid to socket), ``send_packet``, ``ping_timeout``;
   ``Packet.encode()`` returns ``str`` (a text frame) or ``bytes`` (a binary frame).
4. python-socketio: ``AsyncServer._engineio_server_class()`` returns the class it instantiates as ``eio``.
5. aiohttp: an uncompressed server frame is ``_write_websocket_frame``'s header + payload, without mask
   (RFC 6455 section 5.2; a test compares the bytes). ``WebSocketResponse.closed`` and ``.compress`` and
   ``request.transport`` are public. aiohttp's writer counts the bytes it wrote to decide when to wait for
   the transport (``_output_size``); direct writes are not counted, which only matters once the buffer
   grows, and then writes go through aiohttp again.
6. engine.io: the receive loop of ``_websocket_handler`` awaits ``ws.wait()`` through ``asyncio.wait_for``
   and ends on ``None`` as on an exception, while the upgrade handshake awaits it directly and expects
   ``OSError`` when the connection ends (``UncompressedWebSocket.wait``).
7. python-socketio: ``AsyncServer._handle_eio_message(eio_sid, data)`` decodes a frame and calls
   ``_handle_event(eio_sid, namespace, id, data)`` for an event, whose ``data[0]`` is the name; it keeps a
   half-received binary packet in ``_binary_packet``; ``reserved_events``, ``_send_packet``,
   ``manager.sid_from_eio_sid`` and ``manager.is_connected``. engine.io: ``_log_error_once(message, key)``
   and ``log_message_keys``; a socket's ``queue.qsize()`` counts the packets its writer has not taken yet.
8. engine.io: ``server._async['translate_request']`` may be a coroutine function; the polling POST path reads
   the body as ``await environ['wsgi.input'].read(length)``, decodes it as UTF-8 and each packet with
   ``Packet`` (outside any error handling on the websocket path), and answers a close packet (``1``) by
   closing the session; ``AsyncServer.handle_request`` serves the route and ``sockets`` maps sids to sockets.
9. python-socketio: ``AsyncServer._trigger_event(event, namespace, *args)`` runs the handler of an event
   (the catch-all ``*`` with the event's own name) and returns what becomes its acknowledgement: checked
   there against signaling/messages.py when ``contract`` is set (``HEMICYCLE_CHECK_MESSAGES``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import struct
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import engineio
import socketio
from aiohttp import web
from aiohttp.web import WebSocketResponse
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from server.domain.jsonlimits import MAX_JSON_DEPTH, too_deep
from signaling.messages import Contract

log = logging.getLogger(__name__)

# The releases whose internals this module was written against.
CHECKED_VERSIONS = {"python-engineio": "4.15.1", "python-socketio": "5.18.1", "aiohttp": "3.14.5"}

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82  # FIN + binary opcode


def check_versions() -> dict[str, str]:
    """The installed versions that differ from those checked (empty when all match)."""
    return {name: version(name) for name, checked in CHECKED_VERSIONS.items() if version(name) != checked}


def frame(encoded: str | bytes) -> bytes:
    """An unmasked, uncompressed, final websocket frame carrying one engine.io packet."""
    data, first = (encoded.encode("utf-8"), _TEXT) if isinstance(encoded, str) else (encoded, _BINARY)
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + data


class ParkingQueue(asyncio.Queue[Any]):
    """A socket's outgoing queue that knows whether its consumer is waiting in ``get()`` with nothing in
    hand. ``parked`` goes up before the wait and down in the same step that takes the item."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parked = 0

    async def get(self) -> Any:
        if not self.empty():
            return self.get_nowait()
        self.parked += 1
        try:
            return await super().get()
        finally:
            self.parked -= 1


class _Direct:
    """What a socket needs for direct writes, set once its websocket is prepared."""

    __slots__ = ("response", "transport")

    def __init__(self, response: WebSocketResponse, transport: asyncio.Transport) -> None:
        self.response = response
        self.transport = transport


_ATTRIBUTE = "_hemicycle_direct"
_DROPPED = "_hemicycle_dropped"


def decodable(text: str) -> bool:
    """Whether engine.io's packet decoder takes this text without raising: it raises on an empty packet, a
    type that is not a digit and bad base64, and its JSON parser recurses once per level of a message's data
    (a Socket.IO packet, which starts with a digit, is not parsed there: SocketServer checks it)."""
    if not text:
        return False
    if text[0] == "b":
        try:
            base64.b64decode(text[1:])
        except ValueError:
            return False
        return True
    if text[0] not in "0123456789":
        return False
    return len(text) == 1 or text[1].isnumeric() or not too_deep(text[1:])


class _Body:
    """A polling request's body, read already, as engine.io reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, length: int = -1) -> bytes:
        return self.body


# engine.io's close packet: what replaces a body that did not arrive in time or cannot be decoded, so that
# engine.io closes the session as when a client leaves (a protocol error).
_CLOSE = b"1"


def _payload_decodable(body: bytes) -> bool:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(decodable(part) for part in text.split("\x1e"))


class UncompressedWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket, without permessage-deflate, remembered by its socket.

    Signalling messages are small: deflating each one for each connection costs more CPU than the bytes it
    saves, and a compressed frame would differ per connection (the compressor keeps context)."""

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        socket = getattr(self.handler, "__self__", None)
        transport = request.transport
        if socket is not None and transport is not None:
            setattr(socket, _ATTRIBUTE, _Direct(self._sock, transport))
        try:
            await self.handler(self)
        finally:
            if socket is not None and getattr(socket, _ATTRIBUTE, None) is not None:
                setattr(socket, _ATTRIBUTE, None)
        return self._sock

    async def wait(self) -> Any:
        """The next message's data. When the connection ends, engine.io's driver raises OSError; raised
        through `asyncio.wait_for` in engine.io's receive loop, it is kept in a reference cycle (the task
        holds the error, whose traceback holds wait_for's frame, which holds the task) with the connection's
        whole stack, which only a full collection frees. That loop takes None as the end as well, so it
        gets None; the upgrade handshake, which awaits this directly, still gets the OSError it expects."""
        message = await self._sock.receive()
        if isinstance(message.data, bytes):
            return message.data
        if isinstance(message.data, str):
            if decodable(message.data):
                return message.data
            # engine.io decodes outside its error handling: what it cannot decode would end its handler
            # with a traceback. A protocol error: the connection ends, as when the client leaves.
            log.info("closing a websocket that sent a frame engine.io cannot decode")
        socket = getattr(self.handler, "__self__", None)
        if socket is not None and socket.upgraded and not socket.upgrading:
            return None
        raise OSError()


class WsDirectServer(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server, writing packets straight to a websocket whenever that keeps their order, and
    dropping a connection that lets more than ``send_queue_limit`` packets wait for it.

    engine.io's queue is unbounded: a client that answers pings but never reads its socket would otherwise
    hold a copy of every broadcast, for ever."""

    send_queue_limit = 1000  # HEMICYCLE_SEND_QUEUE_LIMIT, set by the hub
    read_seconds = 15.0  # HEMICYCLE_HTTP_READ_SECONDS, set by the hub

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A copy: the driver's table is shared by every server of the process.
        driver: dict[str, Any] = getattr(self, "_async")  # noqa: B009 (engine.io's, untyped)
        self._async = {
            **driver,
            "websocket": UncompressedWebSocket,
            "translate_request": self._translate_request,
        }
        self.direct_writes = 0  # packets that skipped the queue, for tests and diagnosis

    async def handle_request(self, request: web.Request) -> Any:
        sid = request.query.get("sid")
        socket = self.sockets.get(sid) if sid else None
        if socket is not None and socket.closed:
            # Forgotten here as engine.io's GET path does (``_get_socket``): its POST path would raise
            # KeyError for a session closed but not yet forgotten, an error 500.
            del self.sockets[sid]
        return await super().handle_request(request)

    async def _translate_request(self, request: web.Request) -> dict[str, Any]:
        """The driver's environ, with a polling request's body read in time and checked: engine.io reads it
        from the stream without a deadline, and logs an error for a body it cannot decode."""
        environ: dict[str, Any] = eio_aiohttp.translate_request(request)
        if request.method == "POST" and request.body_exists:
            try:
                async with asyncio.timeout(self.read_seconds):
                    body = await request.read()
            except TimeoutError:
                log.info("a polling request's body did not arrive in time")
                body = None
            if body is None or not _payload_decodable(body):
                log.info("closing a polling session that sent a body engine.io cannot decode")
                body = _CLOSE
            environ["wsgi.input"] = _Body(body)
        return environ

    def _log_error_once(self, message: str, message_key: str) -> None:
        """engine.io logs a client's bad request (an unknown session id, another protocol version, a bad
        transport) as an ERROR the first time: the error is the client's, so a warning, once per kind."""
        if message_key in self.log_message_keys:
            return
        self.log_message_keys.add(message_key)
        log.warning("engine.io refused a request: %s (further ones are not logged)", message)

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Any]:
        return ParkingQueue(*args, **kwargs)

    def _writable(self, socket: Any, now: float) -> asyncio.Transport | None:
        direct: _Direct | None = getattr(socket, _ATTRIBUTE, None)
        if direct is None or not socket.upgraded or socket.upgrading or socket.closing or socket.closed:
            return None
        if socket.last_ping and now - socket.last_ping > self.ping_timeout:
            return None  # engine.io's send closes it
        queue = socket.queue
        if not isinstance(queue, ParkingQueue) or queue.parked != 1 or not queue.empty():
            return None
        transport = direct.transport
        if (
            direct.response.closed
            or direct.response.compress
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            return None
        return transport

    def write(self, sid: str, data: bytes, now: float) -> bool:
        """Put a frame (``frame()``) on a socket's websocket now, if that keeps its order; False: not
        written, send the packet through the queue (``queue_packet``)."""
        socket = self.sockets.get(sid)
        transport = None if socket is None else self._writable(socket, now)
        if transport is None:
            return False
        transport.write(data)
        self.direct_writes += 1
        return True

    def _backlogged(self, socket: Any) -> bool:
        """Whether the socket has too much waiting for it; the first time, drop its connection."""
        waiting = socket.queue.qsize()
        if waiting < self.send_queue_limit:
            return False
        if not getattr(socket, _DROPPED, False):
            setattr(socket, _DROPPED, True)
            log.warning(
                "dropping connection %s: %d messages waiting, it does not read them", socket.sid, waiting
            )
            direct: _Direct | None = getattr(socket, _ATTRIBUTE, None)
            if direct is not None:
                # Its writer is stuck waiting for the transport to drain: aborting ends the connection, and
                # engine.io then closes the socket the way it does for any lost connection.
                direct.transport.abort()
            else:
                self.start_background_task(socket.close, wait=False, abort=True)
        return True

    async def queue_packet(self, sid: str, pkt: eio_packet.Packet) -> None:
        """engine.io's own send: through the socket's queue and writer."""
        socket = self.sockets.get(sid)
        if socket is not None and self._backlogged(socket):
            return
        await super().send_packet(sid, pkt)

    async def send_packet(self, sid: str, pkt: eio_packet.Packet) -> None:
        # Acknowledgements, messages to one connection, the Socket.IO handshake.
        socket = self.sockets.get(sid)
        transport = None if socket is None else self._writable(socket, time.time())
        if transport is None:
            if socket is not None and self._backlogged(socket):
                return
            await super().send_packet(sid, pkt)
        else:
            transport.write(frame(pkt.encode()))
            self.direct_writes += 1


# A Socket.IO event's header (protocol v5): "2" or "5" and attachments, namespace, acknowledgement id.
_HEADER = re.compile(r"[25](?:\d{1,10}-)?(?:(?P<namespace>/[^,]{0,200}),)?(?P<id>\d{1,18})?")


def _addressed(text: str) -> tuple[str | None, int | None]:
    """The namespace and acknowledgement id an undecoded event's header names (None where it names none)."""
    header = _HEADER.match(text)
    if header is None:
        return None, None
    return header["namespace"], int(header["id"]) if header["id"] else None


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on ``WsDirectServer``, or on stock engine.io if the installed versions are
    not those this module was checked against; every frame a client sends gets an answer.

    python-socketio decodes a frame in engine.io's message handler, which logs what it raises as an error,
    then hands ``data[0]`` to its handler lookup, where an object or a list as event name raises in a task
    nobody awaits and a number or null reaches the catch-all handler as its event name. The names of its own
    events (``connect``, ``disconnect``) would run those handlers for a connection that is already in, and
    ``*`` would run the catch-all without the event's name. Frames that cannot be an event are refused here
    with an ``error`` event (and an acknowledgement if asked for); the others go to python-socketio as they
    are."""

    # Told of every message sent to a room, with the event's name and the room (server/metrics.py counts the
    # broadcasts and their spacing); None: nobody listens.
    on_room_emit: Callable[[str, str], None] | None = None
    # Checks every payload sent against signaling/messages.py (HEMICYCLE_CHECK_MESSAGES); None: unchecked, so
    # that the broadcast path costs nothing more in production.
    contract: Contract | None = None

    async def emit(
        self, event: str, data: Any = None, to: Any = None, room: Any = None, **kwargs: Any
    ) -> None:
        listener = self.on_room_emit
        if listener is not None:
            target = to if to is not None else room
            for name in target if isinstance(target, list | tuple) else (target,):
                if isinstance(name, str) and name.startswith("session:"):
                    listener(event, name)
        if self.contract is not None:
            self.contract.event(event, data)
        await super().emit(event, data, to=to, room=room, **kwargs)

    async def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        # What a handler returns is the event's acknowledgement; python-socketio sends it as it is.
        reply = await super()._trigger_event(event, namespace, *args)
        if self.contract is not None and event not in self.reserved_events:
            self.contract.ack(event, reply)
        return reply

    def _engineio_server_class(self) -> type:
        different = check_versions()
        if different:
            log.warning(
                "direct websocket writes are off: checked against %s, found %s", CHECKED_VERSIONS, different
            )
            stock: type = engineio.AsyncServer
            return stock
        return WsDirectServer

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if isinstance(data, str) and too_deep(data):
            # Not decoded at all; its header still says where to send the acknowledgement.
            await self._refuse(
                eio_sid, *_addressed(data), f"a message nests at most {MAX_JSON_DEPTH} levels deep"
            )
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # What python-socketio's decoder raises on a frame that is not a Socket.IO packet, or whose data
            # is not JSON (NaN and Infinity included: signaling/wirepacket.py). A header that can be read
            # still says where to send the acknowledgement: a client waiting for one is not left waiting.
            log.info("refused an undecodable frame from %s: %s", eio_sid, exc)
            self._binary_packet.pop(eio_sid, None)
            namespace, id = _addressed(data) if isinstance(data, str) else (None, None)
            await self._refuse(eio_sid, namespace, id, "a message is a Socket.IO packet")

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            await self._refuse(eio_sid, namespace, id, "an event is a name (text) and its payload")
            return
        if data[0] in self.reserved_events or data[0] == "*":  # "*" would reach the catch-all without a name
            await self._refuse(
                eio_sid,
                namespace,
                id,
                f"{data[0]!r} is not an event a client sends",
                "unknown_event_name",
                data[0],
            )
            return
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _refuse(
        self,
        eio_sid: str,
        namespace: str | None,
        id: int | None,
        message: str,
        code: str = "invalid_input",
        event: str | None = None,
    ) -> None:
        """The error the application's handlers give (signaling/hub.py), for a frame they never see."""
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return  # not in the namespace: there is no one to answer there
        error = {"code": code, "message": message}
        await self.emit("error", {**error, "event": event}, to=sid, namespace=namespace)
        if id is not None:
            reply = {"ok": False, "error": error}
            if self.contract is not None:
                self.contract.ack(event or "", reply)
            await self._send_packet(
                eio_sid, self.packet_class(sio_packet.ACK, namespace=namespace, id=id, data=[reply])
            )
