"""The managers' room index (signaling/fanout.py): the same rooms as python-socketio's own manager after any
sequence of connects, entries, leaves, closed rooms and disconnects; a connection leaving looks only at its
own rooms, however many others there are; and a crowd leaving over real sockets leaves no room behind."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest
import socketio
from aiohttp import web
from bidict import bidict
from socketio import base_manager

from signaling import fanout

from .helpers import eventually, start

NS = "/"


def _managed(manager: socketio.AsyncManager) -> socketio.AsyncManager:
    """A manager bound to a server whose ids are counted, so that two servers hand out the same ones."""
    server = socketio.AsyncServer(client_manager=manager)
    ids = itertools.count(1)
    server.eio.generate_id = lambda: f"s{next(ids)}"
    return manager


def _rooms(manager: socketio.AsyncManager) -> dict[Any, Any]:
    return {
        ns: {room: dict(members) for room, members in rooms.items()} for ns, rooms in manager.rooms.items()
    }


@pytest.mark.parametrize("seed", range(4))
async def test_the_index_keeps_the_rooms_python_socketio_keeps(seed: int) -> None:
    ours, theirs = _managed(fanout.DirectEmit()), _managed(socketio.AsyncManager())
    chance = random.Random(seed)
    engines = itertools.count(1)
    pending: list[str] = []  # pre-connected, not yet connected
    connected: list[str] = []
    for step_number in range(600):
        step = chance.random()
        if step < 0.15 or not connected:
            eio_sid = f"e{next(engines)}"
            sid = await ours.pre_connect(eio_sid, NS)
            assert await theirs.pre_connect(eio_sid, NS) == sid
            pending.append(sid)
        elif step < 0.25 and pending:
            sid = pending.pop(chance.randrange(len(pending)))
            assert await ours.connect(sid, NS) == await theirs.connect(sid, NS)
            connected.append(sid)
        elif step < 0.55:
            sid, room = chance.choice(connected), f"r{chance.randrange(12)}"
            for manager in (ours, theirs):
                await manager.enter_room(sid, NS, room)
        elif step < 0.75:
            sid, room = chance.choice(connected), f"r{chance.randrange(12)}"
            for manager in (ours, theirs):
                await manager.leave_room(sid, NS, room)
        elif step < 0.8:
            room = f"r{chance.randrange(12)}"
            for manager in (ours, theirs):
                await manager.close_room(room, NS)
        else:
            sid = chance.choice(connected + pending)
            (connected if sid in connected else pending).remove(sid)
            for manager in (ours, theirs):
                manager.pre_disconnect(sid, NS)
                await manager.disconnect(sid, NS)
        assert _rooms(ours) == _rooms(theirs)
        assert ours.pending_connect == theirs.pending_connect
        assert ours.pending_disconnect == theirs.pending_disconnect
        for sid in connected + pending if step_number % 50 == 0 else ():
            assert sorted(ours.get_rooms(sid, NS), key=str) == sorted(theirs.get_rooms(sid, NS), key=str)
            assert ours.is_connected(sid, NS) == theirs.is_connected(sid, NS)
    for sid in connected + pending:
        await ours.disconnect(sid, NS)
    assert ours.rooms == {} and ours._rooms_of == {}


class _Counted(bidict):  # type: ignore[type-arg]
    checks = 0

    def __contains__(self, key: object) -> bool:
        _Counted.checks += 1
        return super().__contains__(key)


@pytest.mark.parametrize("kind", [fanout.DirectEmit, socketio.AsyncManager])
async def test_a_connection_leaving_looks_at_its_own_rooms_only(
    kind: type[socketio.AsyncManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crowd of N leaving used to cost N x 2N membership checks (each connection has two rooms of its own):
    here one of 2,000 leaves, and the checks it makes are counted."""
    monkeypatch.setattr(base_manager, "bidict", _Counted)
    manager = _managed(kind())
    sids = []
    for n in range(2000):
        sid = await manager.pre_connect(f"e{n}", NS)
        await manager.connect(sid, NS)
        for room in ("session", "staff" if n % 100 == 0 else None, f"participant:{n}"):
            if room is not None:
                await manager.enter_room(sid, NS, room)
        sids.append(sid)
    _Counted.checks = 0
    manager.pre_disconnect(sids[1000], NS)
    await manager.disconnect(sids[1000], NS)
    assert not manager.is_connected(sids[1000], NS)
    assert "participant:1000" not in manager.rooms[NS]
    if kind is fanout.DirectEmit:
        assert _Counted.checks < 10, _Counted.checks
    else:  # what the index saves: a look through every room of the namespace
        assert _Counted.checks > 4000, _Counted.checks


async def test_a_crowd_leaving_over_real_sockets_leaves_no_room_behind() -> None:
    manager = fanout.DirectEmit()
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    app = web.Application()
    sio.attach(app)
    server = await start(app, shutdown_timeout=1)
    gone: list[str] = []

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, "session")
        await sio.enter_room(sid, f"participant:{auth['n']}")

    @sio.event
    async def disconnect(sid: str, reason: Any) -> None:
        gone.append(sid)

    clients = [socketio.AsyncClient() for _ in range(40)]
    try:
        await asyncio.gather(
            *(
                client.connect(f"http://127.0.0.1:{server.port}", auth={"n": n}, transports=["websocket"])
                for n, client in enumerate(clients)
            )
        )
        assert len(manager.rooms[NS]["session"]) == 40
        for n, client in enumerate(clients):
            sid = client.get_sid()
            assert sorted(sio.rooms(sid)) == sorted([sid, "session", f"participant:{n}"])
        await asyncio.gather(*(client.disconnect() for client in clients[:30]))
        await eventually(lambda: len(gone) == 30)
        assert len(manager.rooms[NS]["session"]) == 10
        assert len(manager._rooms_of) == 10
        kept = {
            room for room in manager.rooms[NS] if isinstance(room, str) and room.startswith("participant:")
        }
        assert kept == {f"participant:{n}" for n in range(30, 40)}
    finally:
        await asyncio.gather(*(client.disconnect() for client in clients))
        await server.close()
    await eventually(lambda: len(gone) == 40)
    assert manager.rooms == {} and manager._rooms_of == {}
