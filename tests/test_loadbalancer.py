"""Debian's nginx, with the shipped deploy/nginx/hemicycle.conf, in front of two `hemicycle serve` processes
sharing PostgreSQL and Redis: both transports work through it, long-polling stays on one process, the
client's address reaches the server, and losing a process (kill -9) costs its attendees a reconnection, not
their state.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from sqlalchemy import func, select

from bench.cluster import ClusterError, Nginx, main_config, shipped_limits
from server.db import models
from server.domain.roles import Role
from server.service import Hemicycle

from .conftest import make_settings, run_app
from .helpers import REGISTRATION, Client, Running, eventually, free_port, mint
from .processes import server_processes

HAND = {"type": "statement", "language": "en"}


@dataclass
class Cluster:
    nginx: Nginx
    processes: list[subprocess.Popen[bytes]]
    core: Hemicycle
    event_id: int
    session_id: int
    clients: list[Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nginx.url

    async def attendee_token(self, index: int) -> str:
        registration = {**REGISTRATION, "display_name": f"Attendee {index}"}
        _, token, _ = await self.core.register(self.event_id, registration)
        return token

    async def instance_of(self, participant_id: int) -> str:
        """The process (instance id) holding a participant's connection."""
        async with self.core.store.engine.connect() as connection:
            found = await connection.scalar(
                select(models.Presence.instance_id).where(
                    models.Presence.participant_id == participant_id,
                    models.Presence.session_id == self.session_id,
                )
            )
        assert found, f"participant {participant_id} has no presence"
        return str(found)

    async def process_of(self, instance_id: str) -> subprocess.Popen[bytes]:
        async with self.core.store.engine.connect() as connection:
            pid = await connection.scalar(
                select(models.Instance.pid).where(models.Instance.id == instance_id)
            )
        return next(p for p in self.processes if p.pid == pid)


@pytest.fixture
async def cluster(
    nginx_path: str, pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    ports = [free_port() for _ in range(2)]
    nginx = Nginx(nginx_path, tmp_path / "nginx", free_port(), [f"127.0.0.1:{port}" for port in ports])
    behind_proxy = {"HEMICYCLE_PROXY_HEADERS": "on"}
    async with server_processes(
        pg_database_url, fresh_redis_url, tmp_path, [behind_proxy, behind_proxy], ports
    ) as servers:
        result: Cluster | None = None
        try:
            nginx.start()
            result = Cluster(
                nginx, servers.processes, servers.core, servers.event_id, servers.live_session_id
            )
            yield result
        finally:
            if result is not None:
                await asyncio.gather(*(_hang_up(c) for c in result.clients), return_exceptions=True)
            nginx.stop()


@dataclass
class Attendee(Client):
    """A client through the proxy, on one transport, with the web client's `route` balancing key (or none:
    then it is kept on its process by its address), reconnecting by itself as a page does."""

    transport: str = "websocket"
    route: str | None = None
    token: str = ""
    participant_id: int = 0
    http: aiohttp.ClientSession | None = None

    async def connect(self, token: str | None, session_id: Any, **auth: Any) -> None:
        url = self.url if self.route is None else f"{self.url}/?route={self.route}"
        payload = {"token": token, "session_id": session_id, **auth}
        await self.sio.connect(url, auth=payload, transports=[self.transport], wait_timeout=10)

    def welcomes(self) -> list[Any]:
        return self.received("welcome")


def _client(
    url: str, *, transport: str, route: str | None, address: str | None = None, reconnect: bool = False
) -> Attendee:
    options: dict[str, Any] = {"reconnection": reconnect}
    if reconnect:
        options.update(reconnection_delay=0.2, reconnection_delay_max=1, randomization_factor=0.5)
    http = None
    if address is not None:
        # From another loopback address: nginx sees it as the client's, and keys long-polling by it.
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
        options["http_session"] = http
    return Attendee(url, sio=socketio.AsyncClient(**options), transport=transport, route=route, http=http)


async def _hang_up(client: Client) -> None:
    """Close without waiting: python-socketio's polling client would wait out its last long poll (25 s)."""
    client.sio.reconnection = False
    if client.sio.connected or client.sio.eio.state == "connected":
        await client.sio.eio.disconnect(abort=True)
    if isinstance(client, Attendee) and client.http is not None:
        await client.http.close()


async def _join(cluster: Cluster, clients: list[Attendee]) -> None:
    async def one(client: Attendee) -> None:
        try:
            await client.connect(client.token, cluster.session_id)
        except socketio.exceptions.ConnectionError as exc:
            raise AssertionError(f"refused: {client.connect_error}") from exc
        welcome = await client.wait_for("welcome", timeout=15)
        client.participant_id = welcome["me"]["id"]

    await asyncio.gather(*(one(c) for c in clients))


async def test_both_transports_through_nginx_are_sticky_and_see_the_other_process(cluster: Cluster) -> None:
    moderator = _client(cluster.url, transport="websocket", route="moderator")
    cluster.clients.append(moderator)
    await moderator.connect(await mint(cluster.core, Role.MODERATOR, cluster.session_id), cluster.session_id)
    await moderator.wait_for("welcome")

    # Registered through nginx from addresses of their own: the server must record those, not nginx's.
    attendees: list[Attendee] = []
    addresses: dict[int, str] = {}
    for index in range(16):
        address = f"127.0.0.{10 + index}"
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as http,
            http.post(
                f"{cluster.url}/api/events/{cluster.event_id}/participants",
                json={**REGISTRATION, "display_name": f"Attendee {index}"},
            ) as response,
        ):
            assert response.status == 201, await response.text()
            registered = await response.json()
        addresses[registered["participant"]["id"]] = address
        # Half on each transport; two polling clients send no route and are kept together by address.
        transport = "websocket" if index % 2 == 0 else "polling"
        route = None if index in (1, 3) else f"page-{index}"
        attendee = _client(cluster.url, transport=transport, route=route, address=address)
        attendee.token = registered["token"]
        attendees.append(attendee)
    cluster.clients.extend(attendees)

    async with cluster.core.store.engine.connect() as connection:
        origins = dict(
            (
                await connection.execute(
                    select(models.ParticipantOrigin.participant_id, models.ParticipantOrigin.address)
                )
            ).all()
        )
    assert origins == addresses

    await _join(cluster, attendees)
    assert {a.sio.transport() for a in attendees} == {"websocket", "polling"}
    instances = {a.participant_id: await cluster.instance_of(a.participant_id) for a in attendees}
    assert len(set(instances.values())) == 2, "the attendees are spread over both processes"

    # Hands raised on both processes reach everyone, on both transports, with each raiser's place.
    raisers = [
        next(a for a in attendees if instances[a.participant_id] == i) for i in set(instances.values())
    ]
    raisers += [a for a in attendees if a.transport == "polling" and a not in raisers][:2]
    entries = []
    for raiser in raisers:
        reply = await raiser.call("hand:raise", HAND)
        assert reply["ok"], reply
        entries.append(reply["data"]["entry"]["id"])
    for client in [moderator, *attendees]:
        await client.wait_for("floor", lambda f: f["length"] == len(raisers), timeout=10)
    for place, (raiser, entry_id) in enumerate(zip(raisers, entries, strict=True), start=1):
        await raiser.wait_place(entry_id, place, timeout=10)

    # Long-polling stayed on its process through all of this: no client lost its connection or rejoined.
    for attendee in attendees:
        assert attendee.sio.connected and len(attendee.welcomes()) == 1
        reply = await attendee.call("queue:get", {})
        assert reply["ok"] and reply["data"]["floor"]["length"] == len(raisers)
    assert "error" not in {name for a in attendees for name, _ in a.events}


async def test_a_page_reconnecting_in_a_loop_is_held_back_by_nginx_alone(cluster: Cluster) -> None:
    """Handshakes beyond a burst per address and route get 429 from nginx; everyone else connects as usual."""
    statuses: Counter[int] = Counter()
    handshake = f"{cluster.url}/socket.io/?EIO=4&transport=polling&route=looping-page"
    async with aiohttp.ClientSession() as http:
        for _ in range(40):
            async with http.get(handshake) as response:
                statuses[response.status] += 1
        assert statuses[200] >= 1 and statuses[429] >= 10, statuses
        async with http.get(handshake) as response:
            assert response.status == 429
            assert (await response.json())["error"]["code"] == "rate_limited"
    other = _client(cluster.url, transport="websocket", route="another-page")
    other.token = await cluster.attendee_token(1)
    cluster.clients.append(other)
    await _join(cluster, [other])
    assert (await other.call("queue:get", {}))["ok"]


async def _post_questions(client: Attendee, count: int, acknowledged: list[int], sent: list[str]) -> None:
    """Questions posted while a process dies: each is sent once, never retried, as the page does."""
    for k in range(count):
        text = f"Question {k} from participant {client.participant_id} during the failover"
        if not client.sio.connected:
            await eventually(lambda: client.sio.connected, timeout=20)
        sent.append(text)
        try:
            reply = await client.call("question:post", {"text": text}, timeout=5)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            continue  # unacknowledged: it may or may not have been stored, but never twice
        if reply.get("ok"):
            acknowledged.append(reply["data"]["question"]["id"])
        await asyncio.sleep(0.3)


async def test_a_process_killed_costs_its_attendees_a_reconnection_not_their_state(cluster: Cluster) -> None:
    moderator = _client(cluster.url, transport="websocket", route="moderator", reconnect=True)
    cluster.clients.append(moderator)
    moderator.token = await mint(cluster.core, Role.MODERATOR, cluster.session_id)
    attendees = [
        _client(cluster.url, transport=("websocket", "polling")[i % 2], route=f"kill-{i}", reconnect=True)
        for i in range(24)
    ]
    cluster.clients.extend(attendees)
    for index, attendee in enumerate(attendees):
        attendee.token = await cluster.attendee_token(index)
    await _join(cluster, [moderator, *attendees])
    instances = {a.participant_id: await cluster.instance_of(a.participant_id) for a in attendees}

    # Six hands up, the first one holds the floor; six others have asked a question.
    raisers, askers, busy = attendees[:6], attendees[6:12], attendees[12:18]
    entries = []
    for raiser in raisers:
        reply = await raiser.call("hand:raise", HAND)
        assert reply["ok"], reply
        entries.append(reply["data"]["entry"]["id"])
    granted = await moderator.call("floor:grant", {"entry_id": entries[0]})
    assert granted["ok"], granted
    speaker = raisers[0]
    asked: dict[int, int] = {}
    for asker in askers:
        reply = await asker.call("question:post", {"text": f"A question from {asker.participant_id}"})
        assert reply["ok"], reply
        asked[asker.participant_id] = reply["data"]["question"]["id"]

    # The process holding the speaker dies without a word, while attendees on both processes post questions.
    doomed = instances[speaker.participant_id]
    moved = [a for a in attendees if instances[a.participant_id] == doomed]
    stayed = [a for a in attendees if instances[a.participant_id] != doomed]
    assert stayed, "the attendees are spread over both processes"
    acknowledged: list[int] = []
    sent: list[str] = []
    posting = [asyncio.ensure_future(_post_questions(c, 3, acknowledged, sent)) for c in busy]
    await asyncio.sleep(0.2)
    (await cluster.process_of(doomed)).kill()

    # Everyone it held is back, on the other process, within seconds; nobody else had to reconnect.
    await eventually(lambda: all(len(a.welcomes()) >= 2 for a in moved), timeout=30)
    for attendee in moved:
        async with cluster.core.store.engine.connect() as connection:
            now_on = await connection.scalars(
                select(models.Presence.instance_id).where(
                    models.Presence.participant_id == attendee.participant_id,
                    models.Presence.instance_id != doomed,
                )
            )
            assert now_on.all(), f"participant {attendee.participant_id} is not on the surviving process"
    assert all(len(a.welcomes()) == 1 for a in stayed if a.sio.connected)
    await asyncio.gather(*posting)

    # Their place in line, the floor and their questions came back with them.
    for attendee in moved:
        welcome = attendee.welcomes()[-1]
        if attendee in raisers:
            mine = welcome["mine"]
            index = raisers.index(attendee)
            assert mine["entry"]["id"] == entries[index]
            if attendee is speaker:
                assert mine["entry"]["state"] == "speaking"
            else:
                assert mine["place"] == index, mine
        if attendee in askers:
            own = [q["id"] for q in welcome["my_questions"]["questions"]]
            assert own.count(asked[attendee.participant_id]) == 1
    # The moderator's console works: the whole queue, the floor still held, and a question approved.
    await eventually(lambda: moderator.sio.connected, timeout=20)
    reply = await moderator.call("queue:get", {})
    assert reply["ok"], reply
    assert [e["id"] for e in reply["data"]["queue"]["queue"]] == entries[1:]
    assert reply["data"]["queue"]["speaking"]["id"] == entries[0]
    approved = await moderator.call(
        "question:moderate", {"question_id": next(iter(asked.values())), "action": "approve"}
    )
    assert approved["ok"], approved

    # Nothing acknowledged is lost, nothing is stored twice.
    async with cluster.core.store.engine.connect() as connection:
        hands = dict(
            (
                await connection.execute(
                    select(models.Intervention.participant_id, func.count())
                    .where(models.Intervention.session_id == cluster.session_id)
                    .group_by(models.Intervention.participant_id)
                )
            ).all()
        )
        questions = (
            await connection.execute(
                select(models.Question.id, models.Question.text).where(
                    models.Question.session_id == cluster.session_id
                )
            )
        ).all()
    assert hands == {r.participant_id: 1 for r in raisers}
    texts = [text for _, text in questions]
    assert len(texts) == len(set(texts)), "a question was stored twice"
    assert set(acknowledged) <= {question_id for question_id, _ in questions}
    assert set(texts) - {f"A question from {a.participant_id}" for a in askers} <= set(sent)
    assert len(acknowledged) >= len(busy), "the posters kept working through the failover"


@pytest.fixture
async def trusting_a_proxy(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, proxy_headers=True)):
        yield running


async def test_a_proxy_that_drops_the_client_address_is_reported_once(
    trusting_a_proxy: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """With HEMICYCLE_PROXY_HEADERS=on, requests without X-Forwarded-For are served as before (with the
    connection's address), and the misconfiguration is logged once as a warning, not once per request."""
    running = trusting_a_proxy
    caplog.set_level(logging.WARNING)
    for index in range(3):
        await running.register(display_name=f"Behind a careless proxy {index}")
    said = [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING, said
    assert not [r for r in caplog.records if r.levelno > logging.WARNING]

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/api/events/{running.event_id}/participants",
            json={**REGISTRATION, "display_name": "Behind a careful proxy"},
            headers={"X-Forwarded-For": "198.51.100.23"},
        ) as response,
    ):
        assert response.status == 201
        registered = await response.json()
    async with running.core.store.engine.connect() as connection:
        origins = dict(
            (
                await connection.execute(
                    select(models.ParticipantOrigin.participant_id, models.ParticipantOrigin.address)
                )
            ).all()
        )
    assert origins[registered["participant"]["id"]] == "198.51.100.23"
    assert sorted(set(origins.values())) == ["127.0.0.1", "198.51.100.23"]
    assert len([r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]) == 1


def test_the_throwaway_nginx_holds_as_many_as_the_shipped_one(tmp_path: Path) -> None:
    """The benchmarks' and tests' nginx takes its connection limits from deploy/nginx/nginx.conf (with a
    fixed smaller one, 5,000 attendees through it were cut at 4,094); a main file without them is refused."""
    connections, files = shipped_limits()
    assert connections >= 2 * 5000, "every attendee holds two connections: theirs and the upstream"
    config = main_config(tmp_path, tmp_path / "site.conf")
    assert f"worker_connections {connections};" in config
    assert f"worker_rlimit_nofile {files};" in config
    bare = tmp_path / "nginx.conf"
    bare.write_text("events { worker_connections 512; }\n")
    with pytest.raises(ClusterError, match="worker_rlimit_nofile"):
        shipped_limits(bare)
