"""Redis lost and found again, with two server processes on one PostgreSQL database.

A Redis of the test's own is killed and restarted (never the shared one other tests use): while it is gone,
a ban through one process still closes the banned person's connection on the other (through the database),
both processes say they are degraded, and once it is back the fan-out resumes within seconds.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.service import Hemicycle

from .helpers import Client, eventually, mint, register_at
from .processes import server_processes
from .services import RedisServer

# What the issue asks: a decision reaches the other process, and the fan-out comes back, within about 3 s.
WITHIN_SECONDS = 3.5


@pytest.fixture
def own_redis() -> AsyncIterator[RedisServer]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed to kill and restart a Redis of the test's own"
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def two_on_own_redis(
    pg_database_url: str, own_redis: RedisServer, tmp_path: Path
) -> AsyncIterator[tuple[list[str], Hemicycle, RedisServer]]:
    async with server_processes(pg_database_url, own_redis.url, tmp_path, [{}, {}]) as servers:
        yield servers.urls, servers.core, own_redis


async def _health(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], int]:
    async with http.get(f"{url}/api/health") as health, http.get(f"{url}/api/ready") as ready:
        return health.status, await health.json(), ready.status


async def _until(check: Any, timeout: float) -> float:
    """Await check() until it is true; return how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        assert loop.time() - start < timeout, f"not within {timeout}s"
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_a_ban_holds_while_redis_is_down_and_fanout_resumes(
    two_on_own_redis: tuple[list[str], Hemicycle, RedisServer],
) -> None:
    (url_a, url_b), core, redis = two_on_own_redis
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    moderator, watcher = Client(url_a), Client(url_b)
    clients = [moderator, watcher]
    async with aiohttp.ClientSession() as http:
        try:

            async def both_ready() -> bool:
                for url in (url_a, url_b):
                    _status, body, ready = await _health(http, url)
                    if not (ready == 200 and body["status"] == "ok" and body["redis"] is True):
                        return False
                return True

            await _until(both_ready, WITHIN_SECONDS)
            await moderator.connect(await mint(core, Role.MODERATOR, session.id), session.id)
            await watcher.connect(await mint(core, Role.MODERATOR, session.id), session.id)
            attendee = await register_at(
                url_b,
                event.id,
                display_name="Ama Owusu",
                affiliation="University of Ghana",
                stakeholder_group="academic_technical",
                country="GH",
            )
            on_b = Client(url_b)
            clients.append(on_b)
            await on_b.connect(attendee["token"], session.id)
            await on_b.wait_for("welcome")

            redis.kill()

            async def both_degraded() -> bool:
                for url in (url_a, url_b):
                    status, body, ready = await _health(http, url)
                    if not (status == 200 and ready == 503 and body["degraded"] == ["redis"]):
                        return False
                    assert body["status"] == "degraded" and body["redis"] is False
                return True

            await _until(both_degraded, WITHIN_SECONDS)

            # Banned through A while Redis is gone: B learns it from the database, tells, then closes.
            loop = asyncio.get_running_loop()
            banned_at = loop.time()
            reply = await moderator.call(
                "participant:ban", {"participant_id": attendee["participant"]["id"], "reason": "abuse"}
            )
            assert reply["ok"], reply
            notice = await on_b.wait_for("moderation:removed", timeout=WITHIN_SECONDS)
            assert notice["banned"] is True and notice["reason"] == "abuse"
            assert notice["by"]["role"] == "moderator"
            await eventually(lambda: not on_b.sio.connected, timeout=WITHIN_SECONDS)
            assert loop.time() - banned_at < WITHIN_SECONDS + 0.5

            # Redis back: both processes listen again, and a change through A reaches B's moderator.
            redis.restart()
            await _until(both_ready, WITHIN_SECONDS)
            settings = await moderator.call("moderation:settings", {"waiting_room": True})
            assert settings["ok"], settings
            await watcher.wait_for("moderation", lambda m: m["waiting_room"] is True, timeout=2)
        finally:
            for client in clients:
                await client.close()
