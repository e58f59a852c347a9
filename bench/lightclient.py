"""A lean Socket.IO client for the benchmark's simulated attendees.

Thousands of python-socketio clients on the benchmark's own two cores spend more time decoding and
dispatching than the server spends sending: the latency measured is then mostly the clients'. A real
attendee has a browser to themselves. This client speaks just what an attendee needs of Socket.IO 5 over
Engine.IO 4, on the websocket transport only (no polling, no binary, the default namespace): open, connect
with an auth payload, events, acknowledgements, the server's pings, disconnect. It offers the part of
python-socketio's AsyncClient API the benchmark uses (`on`, `connect`, `call`, `disconnect`, `connected`),
so either client can run the same attendee code (`--client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Handler = Callable[..., Awaitable[None]]


class ConnectionRefused(ConnectionError):
    """The server answered the connection with a CONNECT_ERROR packet."""


class LightClient:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._handlers: dict[str, Handler] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self.connected = False

    def on(self, event: str, handler: Handler) -> None:
        self._handlers[event] = handler

    async def connect(
        self, url: str, auth: Any = None, transports: Any = None, wait_timeout: float = 10.0
    ) -> None:
        del transports  # websocket only
        # A query in the URL (a load balancer's `route`) goes along with Engine.IO's.
        base, _, query = url.partition("?")
        ws_url = base.replace("http", "ws", 1).rstrip("/") + "/socket.io/?" + (query + "&" if query else "")
        ws_url += "EIO=4&transport=websocket"
        self._ws = await self._http.ws_connect(
            ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5), max_msg_size=0
        )
        try:
            opening = await self._ws.receive(timeout=wait_timeout)
            if opening.type != aiohttp.WSMsgType.TEXT or not str(opening.data).startswith("0"):
                raise ConnectionError(f"no Engine.IO open packet: {opening.type} {str(opening.data)[:80]}")
            await self._ws.send_str("40" + (json.dumps(auth, separators=(",", ":")) if auth else ""))
            # Events sent from the server's connect handler may arrive before the CONNECT acknowledgement.
            async with asyncio.timeout(wait_timeout):
                while True:
                    message = await self._ws.receive()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"connection closed while connecting ({message.type})")
                    text = str(message.data)
                    if text.startswith("40"):
                        break
                    if text.startswith("44"):
                        refusal = json.loads(text[2:]) if len(text) > 2 else None
                        handler = self._handlers.get("connect_error")
                        if handler is not None:
                            await handler(refusal)
                        raise ConnectionRefused(str(refusal)[:200])
                    await self._packet(text)
        except BaseException:
            await self._ws.close()
            raise
        self.connected = True
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._packet(str(message.data))
                if not self.connected:
                    break
        finally:
            await self._gone()

    async def _packet(self, text: str) -> None:
        if text == "2":  # the server's ping
            assert self._ws is not None
            await self._ws.send_str("3")
        elif text.startswith("42"):
            args = json.loads(text[2:])
            handler = self._handlers.get(args[0])
            if handler is not None:
                await handler(*args[1:])
        elif text.startswith("43"):
            body = text[2:]
            digits = len(body) - len(body.lstrip("0123456789"))
            future = self._acks.pop(int(body[:digits]), None)
            if future is not None and not future.done():
                args = json.loads(body[digits:])
                future.set_result(args[0] if args else None)
        elif text.startswith("41") or text == "1":  # disconnected by the server, or the transport closed
            self.connected = False

    async def _gone(self) -> None:
        was = self.connected
        self.connected = False
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("disconnected"))
        self._acks.clear()
        if was:
            handler = self._handlers.get("disconnect")
            if handler is not None:
                await handler()

    async def call(self, event: str, data: Any = None, timeout: float = 60.0) -> Any:
        if not self.connected or self._ws is None:
            raise ConnectionError("not connected")
        ack = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack] = future
        try:
            await self._ws.send_str(f"42{ack}" + json.dumps([event, data], separators=(",", ":")))
        except BaseException:  # the connection went while sending: its end may have failed the future too
            self._acks.pop(ack, None)
            if future.done() and not future.cancelled():
                future.exception()
            raise
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._acks.pop(ack, None)

    async def disconnect(self) -> None:
        ws = self._ws
        if ws is None:
            return
        if self.connected:
            self.connected = False
            with contextlib.suppress(Exception):
                await ws.send_str("41")
        with contextlib.suppress(Exception):
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
