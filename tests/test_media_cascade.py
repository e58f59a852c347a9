"""One session's media over three server processes sharing PostgreSQL and Redis: the origin relay where the
publisher connects, edge relays where viewers connect, one relay-to-relay link per source per edge."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.roles import Role
from server.media.edge import needed_links
from server.media.placement import Load, place
from server.media.relay import link_kinds
from server.service import Hemicycle
from server.settings import Settings, SettingsError
from server.tokens import RELAY_SCOPE

from .helpers import SECRET, Client, Running, eventually, free_port, mint, register_at
from .media_peers import Publisher, Viewer
from .processes import server_processes

SDP = {"Content-Type": "application/sdp"}


@dataclass
class Cluster:
    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    core: Hemicycle
    session_id: int
    event_id: int
    http: aiohttp.ClientSession

    async def attendee(self, url: str, name: str) -> str:
        registered = await register_at(
            url,
            self.event_id,
            display_name=name,
            affiliation="Delegation",
            stakeholder_group="government",
            country="KE",
        )
        token: str = registered["token"]
        return token

    async def whip(self, url: str, token: str, publisher: Publisher) -> dict[str, Any]:
        async with self.http.post(
            f"{url}/api/sessions/{self.session_id}/whip",
            data=await publisher.offer(),
            headers={**SDP, "Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 201, await response.text()
            await publisher.accept(await response.text())
            return {"location": response.headers["Location"]}

    async def whep(self, url: str, token: str, viewer: Viewer, **query: str) -> str:
        async with self.http.post(
            f"{url}/api/sessions/{self.session_id}/whep",
            data=await viewer.offer(),
            params=query,
            headers={**SDP, "Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 201, await response.text()
            await viewer.accept(await response.text())
            return response.headers["Location"]

    async def health(self, url: str, token: str) -> dict[str, Any]:
        async with self.http.get(
            f"{url}/api/sessions/{self.session_id}/media/health",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200, await response.text()
            report: dict[str, Any] = await response.json()
            return report


@asynccontextmanager
async def running_cluster(
    database_url: str, redis_url: str, tmp_path: Path, overrides: list[dict[str, str]]
) -> AsyncIterator[Cluster]:
    """Server processes on one database and one Redis, each with its own environment overrides."""
    async with (
        server_processes(database_url, redis_url, tmp_path, overrides) as servers,
        aiohttp.ClientSession() as http,
    ):
        yield Cluster(
            servers.urls, servers.processes, servers.core, servers.live_session_id, servers.event_id, http
        )


@pytest.fixture
async def cluster(pg_database_url: str, fresh_redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(pg_database_url, fresh_redis_url, tmp_path, [{}, {}, {}]) as running:
        yield running


def _links_by_edge(report: dict[str, Any]) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for link in report["links"]:
        links.setdefault(link["edge"], []).append(link["source"])
    return {edge: sorted(sources) for edge, sources in links.items()}


async def test_viewers_on_two_edges_decode_what_the_origin_publishes(cluster: Cluster) -> None:
    url_a, url_b, url_c = cluster.urls
    av = await mint(cluster.core, Role.AV, cluster.session_id)
    room = Publisher()
    viewers = [Viewer(), Viewer(), Viewer()]
    try:
        await cluster.whip(url_a, av, room)  # A claims the session's relay: it is the origin
        places = [url_b, url_b, url_c]
        for index, (viewer, url) in enumerate(zip(viewers, places, strict=True)):
            await cluster.whep(url, await cluster.attendee(url, f"Viewer {index}"), viewer)
        for viewer in viewers:
            await eventually(lambda v=viewer: v.frames["video"] >= 10 and v.loud_frames >= 5, timeout=20)
            assert viewer.sizes == {(320, 240)}

        # A forwards each source once per edge process, however many viewers each edge has.
        origin = await cluster.health(url_a, av)
        assert origin["tier"] == "origin" and origin["viewers"] == {}
        by_edge = _links_by_edge(origin)
        assert len(by_edge) == 2
        assert all(sources == ["channel:floor", "room"] for sources in by_edge.values()), by_edge
        assert all(link["connection"] == "connected" for link in origin["links"])

        # An edge whose last viewer leaves lets its links go; the other edge keeps its own.
        await viewers[2].close()

        async def c_let_go() -> bool:
            return len(_links_by_edge(await cluster.health(url_a, av))) == 1

        await eventually_async(c_let_go, timeout=15)
        assert viewers[0].frames["video"] > 0
    finally:
        for viewer in viewers:
            await viewer.close()
        await room.close()


async def test_a_service_credential_opens_nothing_but_a_pull(hemicycle: Running) -> None:
    url, session_id = hemicycle.url, hemicycle.live_session
    tokens = hemicycle.core.tokens
    credential, _ = tokens.issue_service(scope=RELAY_SCOPE, session_id=session_id, instance_id="edge-x")
    headers = {"Authorization": f"Bearer {credential}"}
    viewer = Viewer()
    try:
        async with aiohttp.ClientSession() as http:
            # Not a participant: no WHEP, no API, no Socket.IO identity.
            async with http.post(
                f"{url}/api/sessions/{session_id}/whep", data=await viewer.offer(), headers={**SDP, **headers}
            ) as response:
                assert response.status == 401
                assert (await response.json())["error"]["code"] == "token_invalid"
            async with http.get(f"{url}/api/sessions/{session_id}/media/ice", headers=headers) as response:
                assert response.status == 401
            client = hemicycle.client()
            refused = await client.try_connect({"token": credential, "session_id": session_id})
            assert refused["data"]["code"] == "token_invalid", refused
            # Another session's pull, an expired credential, a participant's token, and a process that is
            # not the origin (no relay runs here yet).
            pull = f"{url}/api/sessions/{session_id}/media/pull"
            other, _ = tokens.issue_service(scope=RELAY_SCOPE, session_id=session_id + 1, instance_id="x")
            expired, _ = tokens.issue_service(
                scope=RELAY_SCOPE, session_id=session_id, instance_id="x", ttl=timedelta(seconds=-1)
            )
            attendee = (
                await hemicycle.register(
                    display_name="Curious Person",
                    affiliation="Delegation",
                    stakeholder_group="government",
                    country="KE",
                )
            )["token"]
            for token, status, code in (
                (other, 403, "forbidden"),
                (expired, 401, "token_expired"),
                (attendee, 401, "token_invalid"),
                (credential, 409, "not_origin"),
            ):
                async with http.post(
                    pull,
                    data="v=0",
                    params={"source": "room"},
                    headers={**SDP, "Authorization": f"Bearer {token}"},
                ) as response:
                    assert response.status == status, await response.text()
                    assert (await response.json())["error"]["code"] == code
    finally:
        await viewer.close()


async def eventually_async(check: Any, timeout: float) -> None:
    """Wait until an async check holds, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.2)


async def quiet(viewer: Viewer, kind: str, timeout: float = 6.0, still: float = 0.8) -> None:
    """Wait until ``viewer`` stops receiving ``kind``: no new frame for ``still`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    count, since = viewer.frames[kind], loop.time()
    while loop.time() - since < still:
        assert loop.time() < deadline, f"{kind} kept coming"
        await asyncio.sleep(0.05)
        if viewer.frames[kind] != count:
            count, since = viewer.frames[kind], loop.time()


async def test_floor_mute_removal_and_the_end_hold_at_edges(cluster: Cluster) -> None:
    url_a, url_b, url_c = cluster.urls
    core, session_id = cluster.core, cluster.session_id
    av = await mint(core, Role.AV, session_id)
    room, voice = Publisher(), Publisher()
    on_b, on_c = Viewer(), Viewer()
    clients: list[Client] = []
    try:
        await cluster.whip(url_a, av, room)
        moderator = Client(url_a)
        speaker = Client(url_a)
        watcher = Client(url_c)
        clients += [moderator, speaker, watcher]
        await moderator.connect(await mint(core, Role.MODERATOR, session_id), session_id)
        speaker_token = await cluster.attendee(url_a, "Amina Diallo")
        await speaker.connect(speaker_token, session_id)
        watcher_registered = await register_at(
            url_c,
            cluster.event_id,
            display_name="Disruptive Person",
            affiliation="Nowhere",
            stakeholder_group="civil_society",
            country="FR",
        )
        await watcher.connect(watcher_registered["token"], session_id)
        for client in clients:
            await client.wait_for("welcome")

        entry = (await speaker.call("hand:raise", {"type": "statement", "language": "en"}))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
        published = await speaker.call("media:publish", {"source": "speaker", "sdp": await voice.offer()})
        assert published["ok"], published
        await voice.accept(published["data"]["sdp"])
        speaker_id = published["data"]["participant_id"]

        # The speaker's viewer on B (an edge), the room's viewer on C (another edge, over Socket.IO).
        await cluster.whep(url_b, await cluster.attendee(url_b, "Viewer B"), on_b, source="speaker")
        subscribed = await watcher.call("media:subscribe", {"source": "room", "sdp": await on_c.offer()})
        assert subscribed["ok"] and "owner" not in subscribed["data"], subscribed
        await on_c.accept(subscribed["data"]["sdp"])
        await eventually(lambda: on_b.frames["video"] >= 5 and on_b.frames["audio"] >= 5, timeout=20)
        await eventually(lambda: on_c.frames["video"] >= 5, timeout=20)

        # A mute on A: the edge's viewer sees and hears nothing more of the speaker; unmuted, again.
        muted = await moderator.call(
            "participant:mute", {"participant_id": speaker_id, "audio": True, "video": True}
        )
        assert muted["ok"], muted
        await quiet(on_b, "video")
        await quiet(on_b, "audio")
        unmuted = await moderator.call(
            "participant:mute", {"participant_id": speaker_id, "audio": False, "video": False}
        )
        assert unmuted["ok"], unmuted
        frames = on_b.frames["video"]
        await eventually(lambda: on_b.frames["video"] > frames + 5, timeout=10)

        # The floor revoked: nothing of the speaker reaches B any more.
        assert (await moderator.call("floor:end", {"entry_id": entry["id"], "revoke": True}))["ok"]
        await quiet(on_b, "video")

        # A removal decided on A ends the viewing on C, whose edge checks its viewers every second.
        removed = await moderator.call(
            "participant:remove", {"participant_id": watcher_registered["participant"]["id"], "reason": "x"}
        )
        assert removed["ok"], removed
        stopped = await watcher.wait_for("media:stopped", timeout=5)
        assert stopped["reason"] == "removed" and stopped["resource_id"] == subscribed["data"]["resource_id"]

        # The session ends: the edges end their viewers too (their connections close).
        ended = await moderator.call("session:set_state", {"state": "ended"})
        assert ended["ok"], ended
        await eventually(lambda: on_b.pc.connectionState in ("closed", "failed"), timeout=5)
    finally:
        for client in clients:
            await client.close()
        for peer in (on_b, on_c, room, voice):
            await peer.close()


async def test_a_full_process_hands_viewers_to_the_one_with_most_room(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    """A (the origin) forwards 2 streams at most, B 1, C 50: B's second and third viewers go to C."""
    capacities = [{"HEMICYCLE_MEDIA_MAX_VIEWERS": str(n)} for n in (2, 1, 50)]
    async with running_cluster(pg_database_url, fresh_redis_url, tmp_path, capacities) as cluster:
        url_a, url_b, _ = cluster.urls
        av = await mint(cluster.core, Role.AV, cluster.session_id)
        room = Publisher()
        viewers = [Viewer(), Viewer(), Viewer()]
        client = Client(url_b)
        try:
            await cluster.whip(url_a, av, room)

            async def three_known() -> bool:
                return len((await cluster.health(url_a, av))["processes"]) == 3

            await eventually_async(three_known, timeout=10)
            await cluster.whep(url_b, await cluster.attendee(url_b, "First"), viewers[0])
            # B is full: its next viewers (Socket.IO, then WHEP) are served by C, the process with most room.
            token = await cluster.attendee(url_b, "Second")
            await client.connect(token, cluster.session_id)
            await client.wait_for("welcome")
            reply = await client.call("media:subscribe", {"source": "room", "sdp": await viewers[1].offer()})
            assert reply["ok"], reply
            await viewers[1].accept(reply["data"]["sdp"])
            third = await cluster.attendee(url_b, "Third")
            location = await cluster.whep(url_b, third, viewers[2])
            for viewer in viewers:
                await eventually(lambda v=viewer: v.frames["video"] >= 5, timeout=20)

            def streams(report: dict[str, Any]) -> list[int]:
                return sorted(p["streams"] for p in report["processes"])

            async def settled() -> bool:
                # A: 4 links (2 per edge); B: 1 viewer; C: 2 viewers.
                return streams(await cluster.health(url_a, av)) == [1, 2, 4]

            await eventually_async(settled, timeout=10)
            edges = _links_by_edge(await cluster.health(url_a, av))
            assert len(edges) == 2
            assert reply["data"]["owner"] in edges

            # The WHEP viewer's DELETE, sent where it was made, reaches C, which served it.
            async with cluster.http.delete(
                url_b + location, headers={"Authorization": f"Bearer {third}"}
            ) as response:
                assert response.status == 200, await response.text()

            async def c_serves_one() -> bool:
                return streams(await cluster.health(url_a, av)) == [1, 1, 4]

            await eventually_async(c_serves_one, timeout=10)
        finally:
            await client.close()
            for viewer in viewers:
                await viewer.close()
            await room.close()


def test_placement_rules() -> None:
    here = Load("b", "http://b", viewers=10, capacity=10)
    others = [Load("a", "http://a", 5, 10), Load("c", "http://c", 1, 10), Load("d", "http://d", 11, 20)]
    assert place(Load("b", "http://b", 9, 10), others).instance_id == "b"  # type: ignore[union-attr]
    assert place(here, others).instance_id == "c"  # type: ignore[union-attr]
    assert place(here, [Load("a", "http://a", 10, 10)]) is None
    with pytest.raises(ValueError):
        Load("x", "http://x", 0, 0)


@pytest.mark.parametrize("value", ["0", "20001", "many"])
def test_capacity_out_of_range_is_refused_at_start(value: str) -> None:
    with pytest.raises(SettingsError, match="HEMICYCLE_MEDIA_MAX_VIEWERS"):
        Settings.from_env({"HEMICYCLE_MEDIA_MAX_VIEWERS": value, "HEMICYCLE_SECRET": SECRET}).resolved()


async def test_an_edge_that_dies_leaves_nothing_and_its_viewers_are_served_elsewhere(
    cluster: Cluster,
) -> None:
    url_a, url_b, url_c = cluster.urls
    av = await mint(cluster.core, Role.AV, cluster.session_id)
    room = Publisher()
    lost, again = Viewer(), Viewer()
    try:
        await cluster.whip(url_a, av, room)
        token = await cluster.attendee(url_a, "Wandering Viewer")
        await cluster.whep(url_b, token, lost)
        await eventually(lambda: lost.frames["video"] >= 5, timeout=20)
        (edge_b,) = _links_by_edge(await cluster.health(url_a, av))

        cluster.processes[1].kill()  # B crashes: no goodbye
        # The client subscribes again by itself, through another process, and has a picture within 3 s.
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await cluster.whep(url_c, token, again)
        await eventually(lambda: again.frames["video"] >= 1, timeout=3)
        assert again.first_frame_at["video"] - asked < 3.0

        # The origin lets go of the dead edge's links once its heartbeat is gone: only C's remain.
        async def only_c() -> bool:
            edges = _links_by_edge(await cluster.health(url_a, av))
            return len(edges) == 1 and edge_b not in edges

        await eventually_async(only_c, timeout=8)
    finally:
        for peer in (lost, again, room):
            await peer.close()


async def test_an_origin_that_dies_is_taken_over_and_edges_pull_from_the_new_one(cluster: Cluster) -> None:
    url_a, url_b, url_c = cluster.urls
    av = await mint(cluster.core, Role.AV, cluster.session_id)
    room, back = Publisher(), Publisher()
    viewer = Viewer()
    try:
        await cluster.whip(url_a, av, room)
        await cluster.whep(url_b, await cluster.attendee(url_b, "Patient Viewer"), viewer)
        await eventually(lambda: viewer.frames["video"] >= 5, timeout=20)

        cluster.processes[0].kill()  # A, the origin, crashes
        await room.close()
        # The AV desk publishes again by itself, through C: refused while A's claim still holds, then C takes
        # the session over.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        offer = await back.offer()
        while True:
            async with cluster.http.post(
                f"{url_c}/api/sessions/{cluster.session_id}/whip",
                data=offer,
                headers={**SDP, "Authorization": f"Bearer {av}"},
            ) as response:
                if response.status == 201:
                    await back.accept(await response.text())
                    break
                body = await response.json()
                assert body["error"]["code"] in ("relay_unreachable", "relay_moved"), body
            assert loop.time() < deadline, "no process took the session over"
            await asyncio.sleep(0.3)
        returned, frames = loop.time(), viewer.frames["video"]

        # The viewer on B kept its connection; B's edge pulls from C; the picture is back within 3 s.
        await eventually(lambda: viewer.frames["video"] > frames + 2, timeout=3)
        assert loop.time() - returned < 3.0
        assert viewer.pc.connectionState == "connected"
        origin = await cluster.health(url_c, av)
        assert origin["tier"] == "origin" and len(_links_by_edge(origin)) == 1
    finally:
        for peer in (viewer, room, back):
            await peer.close()


async def test_an_edge_that_cannot_reach_the_origin_refuses_at_once(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    """A runs the origin but tells the others a wrong address: B's edge cannot pull, and its viewers get
    relay_unreachable within seconds (then go to other processes), not a hung offer."""
    unreachable = {"HEMICYCLE_INTERNAL_URL": f"http://127.0.0.1:{free_port()}"}
    async with running_cluster(pg_database_url, fresh_redis_url, tmp_path, [unreachable, {}, {}]) as cluster:
        url_a, url_b, _ = cluster.urls
        av = await mint(cluster.core, Role.AV, cluster.session_id)
        room = Publisher()
        viewers = [Viewer(), Viewer()]
        try:
            await cluster.whip(url_a, av, room)
            loop = asyncio.get_running_loop()
            for index, viewer in enumerate(viewers):
                token = await cluster.attendee(url_b, f"Stranded {index}")
                asked = loop.time()
                async with cluster.http.post(
                    f"{url_b}/api/sessions/{cluster.session_id}/whep",
                    data=await viewer.offer(),
                    headers={**SDP, "Authorization": f"Bearer {token}"},
                ) as response:
                    assert response.status == 503, await response.text()
                    assert (await response.json())["error"]["code"] == "relay_unreachable"
                assert loop.time() - asked < 6.0
        finally:
            for peer in (*viewers, room):
                await peer.close()


def test_each_source_crosses_between_relays_once() -> None:
    """The links a viewer needs: the room's picture and its language's sound apart, the speaker whole."""
    assert needed_links("room", None, ["audio", "video"]) == {"room", "channel:floor"}
    assert needed_links("room", "fr", ["audio", "video"]) == {"room", "channel:fr"}
    assert needed_links("room", "ar", ["audio"]) == {"channel:ar"}  # sound only: no picture crosses
    assert needed_links("speaker", None, ["audio", "video"]) == {"speaker"}
    assert needed_links("greenroom:7", None, ["audio", "video"]) == set()
    assert link_kinds("room") == ("video",) and link_kinds("channel:floor") == ("audio",)
    assert link_kinds("channel:xx") == () and link_kinds("greenroom:7") == ()


async def test_past_its_edge_limit_the_origin_feeds_new_edges_through_an_edge(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    """A feeds one edge at most: B pulls from A; C, refused by A, pulls from B (a second tier)."""
    limits = [{"HEMICYCLE_MEDIA_MAX_EDGES": "1"}, {}, {}]
    async with running_cluster(pg_database_url, fresh_redis_url, tmp_path, limits) as cluster:
        url_a, url_b, url_c = cluster.urls
        av = await mint(cluster.core, Role.AV, cluster.session_id)
        room = Publisher()
        viewers = [Viewer(), Viewer()]
        try:
            await cluster.whip(url_a, av, room)

            async def three_known() -> bool:
                return len((await cluster.health(url_a, av))["processes"]) == 3

            await eventually_async(three_known, timeout=10)
            await cluster.whep(url_b, await cluster.attendee(url_b, "Tier One"), viewers[0])
            await eventually(lambda: viewers[0].frames["video"] >= 5, timeout=20)
            (edge_b,) = _links_by_edge(await cluster.health(url_a, av))
            await cluster.whep(url_c, await cluster.attendee(url_c, "Tier Two"), viewers[1])
            await eventually(
                lambda: viewers[1].frames["video"] >= 5 and viewers[1].loud_frames >= 3, timeout=20
            )
            # The origin still feeds B alone; C's picture came through B.
            assert list(_links_by_edge(await cluster.health(url_a, av))) == [edge_b]
        finally:
            for peer in (*viewers, room):
                await peer.close()
