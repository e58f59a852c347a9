"""Connecting, bounded over real sockets: a client reconnecting in a loop, one token opened by many
connections, refused attempts from one address, and a proxy that drops the client's address."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from server.domain.roles import Role
from server.keys import HUB_KEY
from signaling.hub import Hub

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually, snapshots_of


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Running]:
    """Small connect bounds, so that a test reaches each in a few connections."""
    settings = make_settings(
        tmp_path, connects_per_minute=6, connections_per_participant=3, refused_connects_per_address=4
    )
    async for running in run_app(settings):
        yield running


async def connect_with(
    running: Running, token: str, headers: dict[str, str] | None = None
) -> tuple[Client, Any]:
    """Connect one client (optionally through a 'proxy' that sets headers): (client, refusal data or None)."""
    client = running.client()
    auth = {"token": token, "session_id": running.live_session}
    try:
        await client.sio.connect(
            running.url, auth=auth, headers=headers or {}, transports=["websocket"], wait_timeout=10
        )
    except socketio.exceptions.ConnectionError:
        return client, client.connect_error["data"]
    await client.wait_for("welcome")
    return client, None


async def test_a_reconnect_loop_is_refused_and_others_still_connect(strict: Running) -> None:
    looping = (await strict.register())["token"]
    for _ in range(6):  # a page coming back a few times a minute is fine
        client, refused = await connect_with(strict, looping)
        assert refused is None
        await client.close()
    client, refused = await connect_with(strict, looping)
    assert refused is not None and refused["code"] == "rate_limited"
    assert refused["details"]["retry_after"] >= 1
    assert not client.sio.connected
    # The same address, another person: unaffected by their neighbour's loop.
    other, refused = await connect_with(strict, (await strict.register())["token"])
    assert refused is None and other.last("welcome")["me"]["role"] == "attendee"
    # A loop refused for its rate does not count against the address as bad tokens do: more refusals than
    # the address is allowed (4), and a third person still gets in.
    for _ in range(5):
        _client, refused = await connect_with(strict, looping)
        assert refused is not None and refused["code"] == "rate_limited"
    _third, refused = await connect_with(strict, (await strict.register())["token"])
    assert refused is None


async def test_one_token_cannot_hold_many_connections(strict: Running) -> None:
    token = (await strict.register())["token"]
    tabs = [(await connect_with(strict, token))[0] for _ in range(3)]
    assert all(tab.sio.connected for tab in tabs)
    for _ in range(2):
        client, refused = await connect_with(strict, token)
        assert refused is not None and refused["code"] == "too_many_connections"
        assert refused["details"] == {"limit": 3}
        assert not client.sio.connected
    # Somebody else joins as usual, and sees one attendee for the three tabs.
    other, refused = await connect_with(strict, (await strict.register())["token"])
    assert refused is None
    assert other.last("welcome")["presence"]["by_role"] == {"attendee": 2}
    # A tab closed frees its place once the server has seen it go.
    me = tabs[0].last("welcome")["me"]["id"]
    await tabs[0].close()
    hub = strict.server.app[HUB_KEY]
    assert isinstance(hub, Hub)
    await eventually(lambda: hub.connections.limits.open_count(me) == 2)
    client, refused = await connect_with(strict, token)
    assert refused is None and client.sio.connected


async def test_an_address_with_many_refused_tokens_is_refused_at_once(strict: Running) -> None:
    proxy = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(4):
        _client, refused = await connect_with(strict, "not-a-token", proxy)
        assert refused is not None and refused["code"].startswith("token_")
    # Past the bound, even a good token from that address waits out the window...
    good = (await strict.register())["token"]
    _client, refused = await connect_with(strict, good, proxy)
    assert refused is not None and refused["code"] == "rate_limited"
    # ... but only behind a proxy the server trusts is the forwarded address the client's: here it is not,
    # so all of this counted against the proxy's own address, 127.0.0.1, which is now refused as a whole.
    _client, refused = await connect_with(strict, good)
    assert refused is not None and refused["code"] == "rate_limited"


async def test_behind_a_trusted_proxy_refusals_count_per_forwarded_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, refused_connects_per_address=2, proxy_headers=True)
    async for running in run_app(settings):
        for _ in range(2):
            _client, refused = await connect_with(running, "forged", {"X-Forwarded-For": "203.0.113.5"})
            assert refused is not None and refused["code"].startswith("token_")
        _client, refused = await connect_with(running, "forged", {"X-Forwarded-For": "203.0.113.5"})
        assert refused is not None and refused["code"] == "rate_limited"
        token = (await running.register())["token"]
        client, refused = await connect_with(running, token, {"X-Forwarded-For": "203.0.113.6"})
        assert refused is None and client.sio.connected


async def test_a_proxy_that_drops_the_address_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async for running in run_app(make_settings(tmp_path, proxy_headers=True)):
        tokens = [(await running.register())["token"] for _ in range(3)]
        for token in tokens:
            client, refused = await connect_with(running, token)
            assert refused is None and client.sio.connected
        # Once for the registrations over HTTP, once for the Socket.IO connections: not once each.
        warnings = [r for r in caplog.records if "no X-Forwarded-For" in r.getMessage()]
        assert sorted(r.name for r in warnings) == ["server.api", "signaling.connect_limits"]


class RefusingGate:
    """A waiting-room check that refuses everyone, as it does when the database fails under it."""

    async def hold(self, sid: str, arrival: Any) -> bool:
        raise socketio.exceptions.ConnectionRefusedError("internal error", {"code": "internal"})

    async def joined(self, sid: str, principal: Any, session: Any) -> None:
        return None

    async def left(self, sid: str) -> None:
        return None


async def test_a_connection_refused_at_the_gate_gives_its_place_back(strict: Running) -> None:
    token = (await strict.register())["token"]
    hub = strict.server.app[HUB_KEY]
    assert isinstance(hub, Hub)
    gate = hub.connections.gate
    hub.connections.gate = RefusingGate()
    for _ in range(3):  # as many as the participant may hold: none of them is held
        _client, refused = await connect_with(strict, token)
        assert refused is not None and refused["code"] == "internal"
    hub.connections.gate = gate
    client, refused = await connect_with(strict, token)
    assert refused is None and client.sio.connected


async def test_the_bound_on_connections_holds_across_processes(database_url: str, tmp_path: Path) -> None:
    """Two server processes on one database: a participant's connections count on both together, a process
    that died stops counting, and a refusal records nothing."""
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    async for first in run_app(make_settings(first_dir, database_url, connections_per_participant=3)):
        async for second in run_app(make_settings(second_dir, database_url, connections_per_participant=3)):
            token = (await first.register())["token"]
            tabs = [(await connect_with(first, token))[0] for _ in range(2)]
            tabs.append((await connect_with(second, token))[0])
            assert all(tab.sio.connected for tab in tabs)
            me = tabs[0].last("welcome")["me"]["id"]
            # Each process alone holds fewer than three; together they hold three.
            for running in (second, first):
                client, refused = await connect_with(running, token)
                assert refused is not None and refused["code"] == "too_many_connections", refused
                assert refused["details"] == {"limit": 3}
                assert not client.sio.connected
            snapshot = await first.core.presence(first.live_session)
            assert [p.connections for p in snapshot.people if p.participant.id == me] == [3]
            # Somebody else is not affected.
            other, refused = await connect_with(second, (await second.register())["token"])
            assert refused is None and other.sio.connected
            # A tab closed on one process frees a place on the other.
            await tabs[2].close()
            hub = second.server.app[HUB_KEY]
            assert isinstance(hub, Hub)
            await eventually(lambda hub=hub, me=me: hub.connections.limits.open_count(me) == 0)  # type: ignore[misc]
            client, refused = await connect_with(first, token)
            assert refused is None and client.sio.connected


async def test_admitted_from_the_waiting_room_over_the_bound_is_told_and_closed(tmp_path: Path) -> None:
    """An attendee waits on this process while their other connections fill the bound elsewhere: admitted,
    the waiting connection is told `too_many_connections` (as an `error` about `connect`) and closed, and no
    row is written for it."""
    settings = make_settings(tmp_path, waiting_room="public", connections_per_participant=2)
    async for running in run_app(settings):
        moderator = await running.join(await running.staff_token(Role.MODERATOR))
        await moderator.wait_for("moderation")
        registered = await running.register(display_name="Amina Diallo")
        me = registered["participant"]["id"]
        amina = running.client()
        await amina.connect(registered["token"], running.live_session)
        await amina.wait_for("waiting")
        state = await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
        # Two connections of hers on another live process (written as that process would).
        core = running.core
        principal, _ = await core.authenticate(registered["token"])
        await core.store.register_instance("elsewhere", "another-host", 1)
        joins = snapshots_of(core.store)
        for sid in ("far-1", "far-2"):
            await joins.join("elsewhere", sid, principal, running.live_session)

        admitted = await moderator.call(
            "participant:admit", {"participant_id": me, "version": state["waiting"][0]["version"]}
        )
        assert admitted["ok"], admitted
        error = await amina.wait_for("error", lambda e: e["code"] == "too_many_connections")
        assert error["event"] == "connect" and error["details"] == {"limit": 2}
        assert not amina.received("welcome")
        await eventually(lambda amina=amina: not amina.sio.connected)  # type: ignore[misc]
        people = (await core.presence(running.live_session)).people
        assert [p.connections for p in people if p.participant.id == me] == [2]


@pytest.mark.parametrize("held_at", ["arrival", "record"])
async def test_a_client_gone_before_its_welcome_leaves_nothing_behind(
    strict: Running, monkeypatch: pytest.MonkeyPatch, held_at: str
) -> None:
    """A page closed while its connection was being let in (a phone losing its network mid-join, a crowd
    reconnecting): the connect handler is cancelled wherever it waits, here while its token was being
    read, or while its presence was being recorded with the other joiners' (a batch that goes on and
    writes the row after the handler has gone). Its presence row, rooms and place under the bound on
    connections must all go."""
    hub: Hub = strict.server.app[HUB_KEY]
    token = (await strict.register())["token"]
    entered, go_on, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    if held_at == "arrival":
        target: Any = strict.core.store
        name = "arrive"
    else:  # the joins' batch, which records presence (server/db/snapshot_store.py)
        target, name = hub.connections._record.__self__._joins, "_run"  # type: ignore[attr-defined]
    original = getattr(target, name)

    async def held(*args: Any) -> Any:
        """(The arrival is held in the connect handler's task, cancelled with it; the batch is not.)"""
        entered.set()
        try:
            await go_on.wait()
            return await original(*args)
        finally:
            finished.set()

    monkeypatch.setattr(target, name, held)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{strict.url}/socket.io/?EIO=4&transport=websocket")
        assert (await ws.receive_str()).startswith("0")  # engine.io's open
        await ws.send_str("40" + json.dumps({"token": token, "session_id": strict.live_session}))
        await asyncio.wait_for(entered.wait(), 10)
        await ws.close()
    await eventually(lambda: not hub.sio.eio.sockets and not len(hub.connections))  # seen to go
    go_on.set()
    await asyncio.wait_for(finished.wait(), 10)  # a row the batch wrote is there to see from here on
    monkeypatch.setattr(target, name, original)

    async def nothing_left() -> bool:
        people = (await strict.core.presence(strict.live_session)).people
        rooms = hub.sio.manager.rooms.get("/", {})
        return not people and not len(hub.connections) and not any(rooms.values())

    await eventually(nothing_left)
    # The three connections the bound allows are all still there to open.
    clients = [await connect_with(strict, token) for _ in range(3)]
    assert [refused for _, refused in clients] == [None, None, None]
    for client, _ in clients:
        await client.close()
