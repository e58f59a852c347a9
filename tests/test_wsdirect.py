"""Direct websocket writes (signaling/wsdirect.py): order per connection over real sockets, a client that
stops reading, compression refused; and the engine.io, python-socketio and aiohttp internals the module
relies on, so that an upgrade which moves them fails here, loudly, before it fails in a session."""

from __future__ import annotations

import asyncio
import base64
import gc
import inspect
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import engineio
import pytest
import socketio
from aiohttp import web
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.test_utils import TestServer
from engineio import async_socket, base_socket
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from signaling import fanout, wsdirect
from signaling.hub import Hub

from .helpers import eventually, start

# --- the internals --------------------------------------------------------------------------------------


def test_the_checked_versions_are_installed() -> None:
    assert wsdirect.check_versions() == {}
    server = wsdirect.SocketServer(async_mode="aiohttp")
    assert isinstance(server.eio, wsdirect.WsDirectServer)


def test_the_hub_uses_direct_writes() -> None:
    assert inspect.getsource(Hub.__init__).count("wsdirect.SocketServer(") == 1


def test_a_socket_makes_its_queue_with_the_server() -> None:
    assert "self.queue = self.server.create_queue()" in inspect.getsource(base_socket.BaseSocket.__init__)
    server = wsdirect.WsDirectServer(async_mode="aiohttp")
    assert isinstance(async_socket.AsyncSocket(server, "sid").queue, wsdirect.ParkingQueue)


def test_the_websocket_writer_is_the_queue_s_one_consumer_and_sends_what_it_takes() -> None:
    handler = inspect.getsource(async_socket.AsyncSocket._websocket_handler)
    assert "packets = await self.poll()" in handler
    assert "await ws.send(pkt.encode())" in handler
    assert "self.upgraded = True" in handler and "self.upgrading = True" in handler
    poll = inspect.getsource(async_socket.AsyncSocket.poll)
    assert "self.queue.get()" in poll and "self.queue.get_nowait()" in poll
    # After the upgrade, a polling request takes nothing from the queue.
    get = inspect.getsource(async_socket.AsyncSocket.handle_get_request)
    assert "if self.upgrading or self.upgraded:" in get
    # The socket's own sends (pings, close) go through the queue, after whatever was written directly.
    assert "await self.queue.put(pkt)" in inspect.getsource(async_socket.AsyncSocket.send)


def test_the_websocket_driver_is_still_built_the_way_our_subclass_builds_it() -> None:
    call = inspect.getsource(eio_aiohttp.WebSocket.__call__)
    assert "WebSocketResponse(" in call and "max_msg_size=self.server.max_http_buffer_size" in call
    assert "await self._sock.prepare(request)" in call and "await self.handler(self)" in call
    assert "return self._sock" in call
    assert "self.server._async['websocket'](" in inspect.getsource(
        async_socket.AsyncSocket._upgrade_websocket
    )
    assert eio_aiohttp._async["websocket"] is eio_aiohttp.WebSocket
    server = wsdirect.WsDirectServer(async_mode="aiohttp")
    assert server._async["websocket"] is wsdirect.UncompressedWebSocket
    assert eio_aiohttp._async["websocket"] is eio_aiohttp.WebSocket, "the shared driver table is untouched"


def test_socket_and_server_attributes() -> None:
    server = wsdirect.WsDirectServer(async_mode="aiohttp")
    sock = async_socket.AsyncSocket(server, "sid")
    for name in ("upgraded", "upgrading", "closing", "closed", "last_ping", "queue"):
        assert hasattr(sock, name), name
    assert isinstance(server.sockets, dict)
    assert isinstance(server.ping_timeout, int | float)
    assert "socket = self._get_socket(sid)" in inspect.getsource(engineio.AsyncServer.send_packet)
    assert "self.eio = self._engineio_server_class()(" in inspect.getsource(socketio.base_server.BaseServer)


def test_frames_are_the_bytes_aiohttp_writes() -> None:
    class Transport:
        def __init__(self) -> None:
            self.data = b""

        def is_closing(self) -> bool:
            return False

        def write(self, data: bytes) -> None:
            self.data += data

    for payload in ("4x", "4" + "é" * 100, "4" + "y" * 70_000, b"\x01\x02", b"z" * 300):
        transport = Transport()
        writer = WebSocketWriter(None, transport)  # type: ignore[arg-type]
        opcode = 1 if isinstance(payload, str) else 2
        data = payload.encode() if isinstance(payload, str) else payload
        writer._write_websocket_frame(data, opcode, 0)
        assert wsdirect.frame(payload) == transport.data


async def test_the_writer_parks_in_get_with_nothing_in_hand() -> None:
    queue = wsdirect.ParkingQueue()
    taker = asyncio.ensure_future(asyncio.wait_for(queue.get(), 5))
    await eventually(lambda: queue.parked == 1)
    queue.put_nowait("a")
    assert queue.parked == 1 and not queue.empty(), "woken but not yet taken: the queue is not empty"
    assert await taker == "a"
    assert queue.parked == 0 and queue.empty()
    queue.put_nowait("b")
    assert await queue.get() == "b" and queue.parked == 0


# --- over real sockets ----------------------------------------------------------------------------------


@dataclass
class Fan:
    sio: wsdirect.SocketServer
    server: TestServer
    url: str
    sent: int = 0  # messages sent to everyone so far
    sids: list[str] = field(default_factory=list)

    @property
    def eio(self) -> wsdirect.WsDirectServer:
        eio: wsdirect.WsDirectServer = self.sio.eio
        return eio

    async def send(self, count: int, size: int = 0) -> None:
        """Messages `sent`..`sent + count - 1` to everyone: room broadcasts, emits to each connection in
        turn, and packets put on each socket's queue as engine.io's own sends do (a ping, the close), so
        that the writers are caught at every step: parked, woken, holding a packet, writing."""
        pad = "p" * size
        for _ in range(count):
            seq = self.sent
            message = {"seq": seq, "pad": pad}
            if seq % 4 == 1:
                for sid in list(self.sids):
                    await self.sio.emit("m", message, to=sid)
            elif seq % 4 == 3:
                encoded = self.sio.packet_class(sio_packet.EVENT, namespace="/", data=["m", message]).encode()
                for sid in list(self.sids):
                    eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
                    await self.eio.queue_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, encoded))
            else:
                await self.sio.emit("m", message, room="all")
            self.sent = seq + 1
            if seq % 5 in (0, 2):
                await asyncio.sleep(0)


@pytest.fixture
async def fan() -> AsyncIterator[Fan]:
    sio = wsdirect.SocketServer(async_mode="aiohttp", client_manager=fanout.DirectEmit())
    app = web.Application()
    sio.attach(app)
    # Short: a polling client's last long poll would hold the shutdown for a ping interval.
    server = await start(app, shutdown_timeout=1)
    state = Fan(sio, server, f"http://127.0.0.1:{server.port}")

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, "all")
        state.sids.append(sid)

    @sio.event
    async def disconnect(sid: str, reason: Any) -> None:
        state.sids.remove(sid)

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> dict[str, Any]:
        return {"sent": state.sent, "data": data}

    yield state
    await server.close()


@dataclass
class Attendee:
    sio: socketio.AsyncClient
    seqs: list[int] = field(default_factory=list)
    acks: int = 0
    errors: list[str] = field(default_factory=list)


async def attendee(url: str, transports: list[str] | None) -> Attendee:
    client = Attendee(socketio.AsyncClient(reconnection=False))

    @client.sio.on("m")
    async def on_m(data: dict[str, Any]) -> None:
        client.seqs.append(data["seq"])

    await client.sio.connect(url, transports=transports, wait_timeout=10)
    return client


async def hang_up(fan: Fan, clients: list[Attendee]) -> None:
    """From the server: python-socketio's polling client takes a ping interval to hang up by itself."""
    for sid in list(fan.sids):
        await fan.sio.disconnect(sid)
    await eventually(lambda: not any(c.sio.connected for c in clients))


async def keep_calling(client: Attendee, stop: asyncio.Event) -> None:
    """Acknowledged calls while messages flow: an acknowledgement sent after message k follows it."""
    n = 0
    while not stop.is_set():
        answer = await client.sio.call("echo", n, timeout=10)
        if answer["data"] != n:
            client.errors.append(f"ack {n} answered {answer}")
        if len(client.seqs) < answer["sent"]:
            client.errors.append(f"ack after {answer['sent']} messages overtook them: {len(client.seqs)}")
        client.acks += 1
        n += 1


async def test_every_connection_gets_everything_in_order(fan: Fan) -> None:
    clients = [await attendee(fan.url, ["websocket"]) for _ in range(12)]
    clients.append(await attendee(fan.url, ["polling"]))
    clients.append(await attendee(fan.url, None))  # polling, then upgraded to a websocket
    await eventually(lambda: len(fan.sids) == len(clients))
    stop = asyncio.Event()
    callers = [asyncio.ensure_future(keep_calling(c, stop)) for c in clients]
    for _ in range(30):
        await fan.send(10)
        await asyncio.sleep(0.005)
    expected = list(range(fan.sent))
    await eventually(lambda: all(c.seqs == expected for c in clients), timeout=15)
    stop.set()
    await asyncio.gather(*callers)
    for c in clients:
        assert c.seqs == expected and not c.errors and c.acks > 0
    # Both paths were taken, many times, and interleaved (a quarter of the messages are queued anyway).
    assert fan.eio.direct_writes > fan.sent * 2
    await hang_up(fan, clients)


async def test_nothing_overtakes_a_packet_the_writer_has_taken(fan: Fan) -> None:
    """A packet queued, then a broadcast 0, 1, 2... loop iterations later: whether the writer is woken,
    holding the packet or parked again, the broadcast arrives after it."""
    client = await attendee(fan.url, ["websocket"])
    await eventually(lambda: fan.sids)
    eio_sid = fan.sio.manager.eio_sid_from_sid(fan.sids[0], "/")
    caught = set()
    for iterations in range(8):
        await asyncio.sleep(0.02)
        encoded = fan.sio.packet_class(
            sio_packet.EVENT, namespace="/", data=["m", {"seq": fan.sent}]
        ).encode()
        await fan.eio.queue_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, encoded))
        fan.sent += 1
        queue = fan.eio.sockets[eio_sid].queue
        for _ in range(iterations):
            await asyncio.sleep(0)
        caught.add((queue.qsize(), queue.parked))
        await fan.sio.emit("m", {"seq": fan.sent}, room="all")
        fan.sent += 1
    assert {(1, 1), (0, 0), (0, 1)} <= caught, "queued, held by the writer, parked again"
    await eventually(lambda: len(client.seqs) == fan.sent)
    assert client.seqs == list(range(fan.sent))
    assert fan.eio.direct_writes > 0
    await hang_up(fan, [client])


class RawWebSocket:
    """A websocket client on a socket with a small receive buffer, reading only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: str) -> None:
        self.reader = reader
        self.writer = writer
        self.headers = headers

    @classmethod
    async def open(cls, port: int, extensions: str = "") -> RawWebSocket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
            ).encode()
        )
        headers = (await reader.readuntil(b"\r\n\r\n")).decode()
        assert headers.startswith("HTTP/1.1 101"), headers
        return cls(reader, writer, headers)

    async def receive(self) -> tuple[int, str]:
        """(first header byte, text) of the next frame."""
        first, second = await self.reader.readexactly(2)
        assert not second & 0x80, "server frames are not masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first, (await self.reader.readexactly(size)).decode()

    def send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(struct.pack("!BB", 0x81, 0x80 | len(data)) + mask + masked)

    async def join(self) -> None:
        _, opening = await self.receive()
        assert opening.startswith("0{"), opening
        self.send("40")
        _, connected = await self.receive()
        assert connected.startswith("40{"), connected

    async def message(self) -> Any:
        while True:
            first, text = await self.receive()
            assert first == 0x81, f"a final, uncompressed text frame: {first:#x}"
            if text == "2":
                self.send("3")  # engine.io ping, pong
            elif text.startswith("42"):
                return json.loads(text[2:])

    async def close(self) -> None:
        self.writer.close()


async def test_a_client_that_stops_reading_holds_up_no_one(fan: Fan) -> None:
    clients = [await attendee(fan.url, ["websocket"]) for _ in range(3)]
    clients.append(await attendee(fan.url, ["polling"]))
    slow = await RawWebSocket.open(fan.server.port)
    await slow.join()
    await eventually(lambda: len(fan.sids) == len(clients) + 1)
    slow_sid = fan.sids[-1]
    slow_socket = fan.eio.sockets[fan.sio.manager.eio_sid_from_sid(slow_sid, "/")]
    slow_transport = getattr(slow_socket, wsdirect._ATTRIBUTE).transport
    slow_transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    # The slow client reads nothing: its buffers fill, and its packets wait in its queue.
    for _ in range(400):
        await fan.send(5, size=8000)
        await asyncio.sleep(0.001)
        if slow_socket.queue.qsize() > 50:
            break
    assert slow_socket.queue.qsize() > 50 and slow_transport.get_write_buffer_size() > 0
    expected = list(range(fan.sent))
    await eventually(lambda: all(c.seqs == expected for c in clients), timeout=15)

    # The others still get each new message at once.
    for _ in range(20):
        await fan.send(1)
        target = fan.sent
        await eventually(lambda target=target: all(len(c.seqs) == target for c in clients), timeout=2)
    assert slow_socket.queue.qsize() > 50 and not slow_socket.closed

    # When it reads, it gets everything, in order.
    seqs = [(await asyncio.wait_for(slow.message(), 10))[1]["seq"] for _ in range(fan.sent)]
    assert seqs == list(range(fan.sent))
    for c in clients:
        assert c.seqs == list(range(fan.sent))
    await slow.close()
    await hang_up(fan, clients)


async def test_a_client_offering_deflate_gets_an_uncompressed_connection(fan: Fan) -> None:
    raw = await RawWebSocket.open(fan.server.port, "permessage-deflate; client_max_window_bits")
    assert "permessage-deflate" not in raw.headers.lower()
    await raw.join()
    await eventually(lambda: len(fan.sids) == 1)
    await fan.send(3)
    assert [(await asyncio.wait_for(raw.message(), 5))[1]["seq"] for _ in range(3)] == [0, 1, 2]
    sock = next(iter(fan.eio.sockets.values()))
    assert getattr(sock, wsdirect._ATTRIBUTE).response.compress == 0
    assert fan.eio.direct_writes >= 3
    await raw.close()


async def test_a_closed_websocket_is_freed_without_the_cycle_collector(fan: Fan) -> None:
    """A client that hangs up leaves no reference cycle behind on the server: with the collector paced
    (server/collector.py), a connection's objects kept in a cycle would wait for the next full collection.
    Both ways in: a websocket from the start, and polling upgraded to one."""
    gc.collect()
    gc.disable()  # from here, only the collect below can free a cycle, and DEBUG_SAVEALL keeps what it finds
    try:
        clients = [await attendee(fan.url, ["websocket"]) for _ in range(3)]
        clients.append(await attendee(fan.url, None))
        await eventually(lambda: len(fan.sids) == len(clients) and fan.eio.sockets)
        await eventually(lambda: all(s.upgraded and not s.upgrading for s in fan.eio.sockets.values()))
        for client in clients:
            await client.sio.disconnect()  # the client ends it: the server's receive loop sees the close
        await eventually(lambda: not fan.sids and not fan.eio.sockets)
        await asyncio.sleep(0.05)  # the handlers' last steps
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        watched = wsdirect.UncompressedWebSocket | web.WebSocketResponse | async_socket.AsyncSocket
        kept = [type(o).__name__ for o in gc.garbage if isinstance(o, watched)]
        assert kept == [], f"left in reference cycles: {kept}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_the_receive_loop_takes_none_as_the_end() -> None:
    """What UncompressedWebSocket.wait relies on to return None rather than raise when a connection ends."""
    handler = inspect.getsource(async_socket.AsyncSocket._websocket_handler)
    assert "data = await ws.wait()" in handler
    assert "p = await asyncio.wait_for(" in handler and "if p is None:" in handler
    assert "pkt = await websocket_wait()\n            except OSError:" in handler
