"""One session's media over three server processes sharing PostgreSQL and Redis: the origin relay where the
publisher connects, edge relays where viewers connect, one relay-to-relay link per source per edge."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.db.engine import create_engine, migrate
from server.db.store import Store
from server.demo import seed_demo
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.service import Hemicycle
from server.tokens import RELAY_SCOPE, TokenService

from .conftest import make_settings
from .helpers import SECRET, Running, eventually, free_port, mint, register_at
from .media_peers import Publisher, Viewer
from .test_multiprocess import _wait_healthy

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


@pytest.fixture
async def cluster(pg_database_url: str, fresh_redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    engine = create_engine(pg_database_url)
    await migrate(engine)
    settings = make_settings(tmp_path, pg_database_url).resolved()
    core = Hemicycle(settings, Store(engine), TokenService(SECRET))
    await seed_demo(core.store)
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    env = {
        **os.environ,
        "DATABASE_URL": pg_database_url,
        "REDIS_URL": fresh_redis_url,
        "HEMICYCLE_SECRET": SECRET,
        "HEMICYCLE_DATA_DIR": str(tmp_path),
        "HEMICYCLE_HEARTBEAT_SECONDS": "1",
        "HEMICYCLE_LOG_LEVEL": "WARNING",
        "HEMICYCLE_WAITING_ROOM": "off",
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for index in range(3):
            port = free_port()
            log = (tmp_path / f"server-{index}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            await _wait_healthy(url, process)
        async with aiohttp.ClientSession() as http:
            yield Cluster(urls, processes, core, session.id, event.id, http)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        await engine.dispose()


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
