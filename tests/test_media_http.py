"""WHIP and WHEP with real aiortc peers, their refusals, and offers handed to the process owning a relay."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.demo import seed_demo
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.keys import CORE_KEY
from server.media.edge import EdgeRelay
from server.media.relay import ROOM, SPEAKER
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually, free_port
from .media_peers import Publisher, Viewer

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    settings = make_settings(
        tmp_path,
        media_connect_seconds=2.0,
        turn_urls=("turn:turn.example.org:3478?transport=udp",),
        turn_secret="shared-turn-secret",
    )
    async for running in run_app(settings):
        yield running


def peers(running: Running) -> int:
    relay = running.server.app[MEDIA_KEY].relay(running.live_session)
    return 0 if relay is None else len(relay.peers)


async def post(
    url: str, body: str | bytes, token: str | None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Any]:
    sent = dict(headers if headers is not None else SDP)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=sent) as response:
        text = await response.text()
        is_json = response.content_type == "application/json"
        found = dict(response.headers) | {"links": response.headers.getall("Link", [])}
        return response.status, found, json.loads(text) if is_json else text


async def test_whip_publish_and_whep_view(hemicycle: Running) -> None:
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    publisher = Publisher()
    status, headers, answer = await post(f"{base}/whip", await publisher.offer(), av)
    assert status == 201, answer
    assert headers["Content-Type"].startswith("application/sdp")
    assert headers["Location"].startswith(f"/api/sessions/{hemicycle.live_session}/media/")
    assert any('rel="ice-server"' in link and "username=" in link for link in headers["links"])
    await publisher.accept(answer)

    attendee = (await hemicycle.register())["token"]
    viewer = Viewer()
    status, viewing, answer = await post(f"{base}/whep?channel=floor", await viewer.offer(), attendee)
    assert status == 201, answer
    await viewer.accept(answer)
    try:
        await eventually(lambda: viewer.frames["video"] >= 10 and viewer.loud_frames >= 3, timeout=15)
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {attendee}"}
            switched = await http.post(
                hemicycle.url + viewing["Location"] + "/channel", json={"channel": "es"}, headers=auth
            )
            assert switched.status == 200
            assert (await switched.json())["channel"] == "es"
            someone_else = await http.delete(
                hemicycle.url + headers["Location"], headers={"Authorization": f"Bearer {attendee}"}
            )
            assert someone_else.status == 403
            assert (await someone_else.json())["error"]["code"] == "not_yours"
            ended = await http.delete(hemicycle.url + viewing["Location"], headers=auth)
            assert ended.status == 200
            # Idempotent: a player may find its resource already ended.
            again = await http.delete(hemicycle.url + viewing["Location"], headers=auth)
            assert again.status == 200
            # No trickle ICE: RFC 9725 asks for 405 then; offers carry every candidate.
            trickle = await http.patch(
                hemicycle.url + headers["Location"],
                data="a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
                headers={"Authorization": f"Bearer {av}", "Content-Type": "application/trickle-ice-sdpfrag"},
            )
            assert trickle.status == 405
            assert (await trickle.json())["error"]["code"] == "method_not_allowed"
            options = await http.options(f"{base}/whip")
            assert options.status == 204
            assert options.headers["Accept-Post"] == "application/sdp"
        assert peers(hemicycle) == 1
    finally:
        await viewer.close()
        await publisher.close()


async def test_whip_refusals_are_json_and_change_nothing(hemicycle: Running) -> None:
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    attendee = (await hemicycle.register())["token"]
    offer = await Publisher().offer()
    forged = av[:-4] + ("AAAA" if not av.endswith("AAAA") else "BBBB")
    cases = [
        (f"{base}/whip", offer, None, SDP, 401, "token_missing"),
        (f"{base}/whip", offer, forged, SDP, 401, "token_invalid"),
        (f"{base}/whip", offer, attendee, SDP, 403, "not_av"),
        (f"{base}/whip?source=speaker", offer, attendee, SDP, 403, "no_floor"),
        (f"{base}/whip?source=stage", offer, av, SDP, 400, "invalid_source"),
        (f"{base}/whip", offer, av, {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (f"{base}/whip", "v=0\r\ngarbage", av, SDP, 400, "invalid_sdp"),
        (f"{base}/whip", "v=0" + "a" * 70_000, av, SDP, 413, "payload_too_large"),
        (f"{base}/whep?source=greenroom&participant_id=3", offer, attendee, SDP, 403, "not_av"),
        (f"{hemicycle.url}/api/sessions/999999/whip", offer, av, SDP, 404, "unknown_session"),
    ]
    for url, body, token, headers, status, code in cases:
        got, _, reply = await post(url, body, token, headers)
        assert (got, reply["error"]["code"]) == (status, code), (url, reply)
    assert peers(hemicycle) == 0


async def start_instance(settings_dir: Path, database_url: str) -> TestServer:
    port = free_port()
    settings = make_settings(
        settings_dir,
        database_url=database_url,
        port=port,
        internal_url=f"http://127.0.0.1:{port}",
        media_connect_seconds=2.0,
    )
    server = TestServer(create_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    return server


async def test_a_second_process_hands_offers_to_the_owner(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers on one database (SQLite, then PostgreSQL): the first to need the relay owns it."""
    # No periodic reconciliation: only the floor change's own message may stop the speaker.
    monkeypatch.setattr("server.media.service.RECONCILE_SECONDS", 3600.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    owner = await start_instance(tmp_path / "a", database_url)
    other = await start_instance(tmp_path / "b", database_url)
    core = owner.app[CORE_KEY]
    event = await seed_demo(core.store)
    session_id = next(s.id for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    running = Running(owner, core, event.id, session_id, session_id)
    publisher = Publisher()
    viewer = Viewer()
    client = Client(str(other.make_url("")).rstrip("/"))
    try:
        av = await running.staff_token(Role.AV)
        # The owner claims the relay first.
        status, _, answer = await post(
            f"{running.url}/api/sessions/{session_id}/whip", await publisher.offer(), av
        )
        assert status == 201, answer
        await publisher.accept(answer)
        # WHEP on the other process is served there, by an edge relay that pulls from the owner (the origin).
        attendee = (await running.register())["token"]
        other_url = str(other.make_url("")).rstrip("/")
        status, _, answer = await post(
            f"{other_url}/api/sessions/{session_id}/whep", await viewer.offer(), attendee
        )
        assert status == 201, answer
        await viewer.accept(answer)
        await eventually(lambda: viewer.frames["video"] >= 5, timeout=15)
        edge = other.app[MEDIA_KEY].relay(session_id)
        assert isinstance(edge, EdgeRelay) and len(edge.peers) == 1
        origin = owner.app[MEDIA_KEY].relay(session_id)
        assert origin is not None
        # The origin: its publisher, and the edge's links (the room's picture, the floor's sound).
        assert sorted((p.role, p.source) for p in origin.peers.values()) == [
            ("link", "channel:floor"),
            ("link", "room"),
            ("publish", "room"),
        ]

        # Socket.IO on the other process: the same edge serves it, and the same links.
        await client.connect(attendee, session_id)
        await client.wait_for("welcome")
        second = Viewer()
        reply = await client.call("media:subscribe", {"source": "room", "sdp": await second.offer()})
        assert reply["ok"], reply
        assert "owner" not in reply["data"]
        await second.accept(reply["data"]["sdp"])
        await eventually(lambda: second.frames["video"] >= 5, timeout=15)
        switched = await client.call(
            "media:channel", {"resource_id": reply["data"]["resource_id"], "channel": "ru"}
        )
        assert switched["ok"] and switched["data"]["channel"] == "ru", switched
        stopped = await client.call("media:stop", {"resource_id": reply["data"]["resource_id"]})
        assert stopped["ok"], stopped
        relay = owner.app[MEDIA_KEY].relay(session_id)
        assert relay is not None
        # The Russian link went with its only listener.
        await eventually(lambda: len(relay.peers) == 3 and len(edge.links) == 2, timeout=5)
        assert relay.publisher(ROOM) is not None
        await second.close()

        # The floor changes on the other process: the owner stops the speaker as soon as it is told.
        speaker = Client(str(owner.make_url("")).rstrip("/"))
        await speaker.connect(attendee, session_id)
        await speaker.wait_for("welcome")
        moderator = Client(other_url)
        await moderator.connect(await running.staff_token(Role.MODERATOR), session_id)
        await moderator.wait_for("welcome")
        entry = (await speaker.call("hand:raise", {"type": "statement", "language": "en"}))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
        voice = Publisher()
        published = await speaker.call("media:publish", {"source": "speaker", "sdp": await voice.offer()})
        assert published["ok"], published
        await voice.accept(published["data"]["sdp"])
        assert relay.publisher(SPEAKER) is not None
        assert (await moderator.call("floor:end", {"entry_id": entry["id"], "revoke": True}))["ok"]
        await eventually(lambda: relay.publisher(SPEAKER) is None, timeout=5)
        assert (await speaker.wait_for("media:stopped"))["reason"] == "floor_ended"
        forged = await post(
            f"{running.url}/api/sessions/{session_id}/media/floor", b"", None, {"X-Hemicycle-Nudge": "1.abc"}
        )
        assert forged[0] == 403
        await voice.close()
        await speaker.close()
        await moderator.close()
    finally:
        await client.close()
        await viewer.close()
        await publisher.close()
        await other.close()
        await owner.close()
