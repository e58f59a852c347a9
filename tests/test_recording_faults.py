"""Recording faults across real server processes (PostgreSQL, Redis): a process killed while it records
leaves a playable file and the process taking the relay over goes on in a new segment; a write that fails
(a file size limit standing in for a full disk) fails the recording with its error, the session goes on."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from server.db.recording_store import RecordingStore
from server.domain.recording import Segment
from server.domain.roles import Role
from server.recording.paths import resolve

from .helpers import Client, mint
from .media_peers import Publisher
from .processes import server_processes

SDP = {"Content-Type": "application/sdp"}


async def until(check: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    """Poll an asynchronous check (a database read, a request) until it gives something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(0.2)


def playable_seconds(path: Path) -> float:
    """How far a file plays: the last time of a packet PyAV reads from it (every stream present)."""
    last = 0.0
    with av.open(str(path)) as container:
        kinds = {s.type for s in container.streams}
        assert kinds == {"video", "audio"}, kinds
        for packet in container.demux():
            if packet.pts is not None:
                last = max(last, float(packet.pts * packet.time_base))
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 10
    return last


async def whip(http: aiohttp.ClientSession, url: str, session_id: int, token: str, room: Publisher) -> int:
    async with http.post(
        f"{url}/api/sessions/{session_id}/whip",
        data=await room.offer(),
        headers={**SDP, "Authorization": f"Bearer {token}"},
    ) as response:
        if response.status == 201:
            await room.accept(await response.text())
        return response.status


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def test_a_killed_process_leaves_a_playable_file_and_the_next_one_resumes(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    async with (
        server_processes(pg_database_url, fresh_redis_url, tmp_path, [{}, {}]) as servers,
        aiohttp.ClientSession() as http,
    ):
        url_a, url_b = servers.urls
        session_id = servers.live_session_id
        store = RecordingStore(servers.core.store)
        av_token = await mint(servers.core, Role.AV, session_id)
        room = Publisher()
        again = Publisher()
        try:
            assert await whip(http, url_a, session_id, av_token, room) == 201  # A runs the relay
            base = f"{url_a}/api/sessions/{session_id}/recording"
            status, started = await call(http, "POST", f"{base}/start", av_token)
            assert status == 201, started
            recording_id = started["recording"]["id"]

            async def grown(writer: str | None = None, seconds: float = 2.5) -> Segment | None:
                for segment in await store.segments(recording_id):
                    if writer is not None and segment.writer == writer:
                        continue
                    if (
                        segment.ended_at
                        and (segment.ended_at - segment.started_at).total_seconds() >= seconds
                    ):
                        return segment
                return None

            first = await until(grown, timeout=20)
            assert not first.complete
            servers.processes[0].kill()
            servers.processes[0].wait()
            # Playable up to the crash, give or take the last cluster (a second).
            seconds = playable_seconds(resolve(tmp_path / "recordings", first.path))
            assert seconds >= 1.5, seconds

            # The AV desk publishes again, through B: B takes the relay over and resumes the recording.
            async def republished() -> bool:
                nonlocal again
                await again.close()
                again = Publisher()
                return await whip(http, url_b, session_id, av_token, again) == 201

            await until(republished, timeout=30)
            await until(lambda: grown(writer=first.writer, seconds=2.0), timeout=20)
            status, stopped = await call(
                http, "POST", f"{url_b}/api/sessions/{session_id}/recording/stop", av_token
            )
            assert status == 200, stopped
            assert stopped["recording"]["state"] == "stopped"
            segments = await store.segments(recording_id)
            assert [s.track for s in segments] == ["floor", "floor"]
            second = next(s for s in segments if s.writer != first.writer)
            assert second.complete and second.started_at > first.started_at
            assert playable_seconds(resolve(tmp_path / "recordings", second.path)) >= 1.5
            status, got = await call(http, "GET", f"{url_b}/api/sessions/{session_id}/recording", av_token)
            assert got["recording"]["id"] == recording_id
        finally:
            await room.close()
            await again.close()


FILE_LIMIT = 150_000


def small_files() -> None:
    """The child may write no file past FILE_LIMIT bytes: a recording hits it within seconds."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


async def test_a_failing_write_stops_the_recording_with_its_error_and_the_session_goes_on(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    async with (
        server_processes(pg_database_url, fresh_redis_url, tmp_path, [{}], prepare=small_files) as servers,
        aiohttp.ClientSession() as http,
    ):
        (url,) = servers.urls
        session_id = servers.live_session_id
        av_token = await mint(servers.core, Role.AV, session_id)
        moderator = Client(url)
        desk = Client(url)
        await moderator.connect(await mint(servers.core, Role.MODERATOR, session_id), session_id)
        await desk.connect(av_token, session_id)
        room = Publisher()
        try:
            assert await whip(http, url, session_id, av_token, room) == 201
            started = await moderator.call("recording:start", {})
            assert started["ok"], started
            for client in (moderator, desk):
                failed = await client.wait_for(
                    "recording", lambda p: p["recording"]["state"] == "failed", timeout=60
                )
                assert "too large" in failed["recording"]["error"].lower(), failed
            got = await desk.call("recording:get", {})
            assert got["data"]["recording"]["state"] == "failed"
            # The session goes on: the AV desk still works, a new recording can be tried.
            assert (await desk.call("presence:get", {}))["ok"]
            assert (await moderator.call("recording:stop", {}))["error"]["code"] == "not_recording"
            audit = await servers.core.store.audit_log(session_id)
            assert [e["action"] for e in audit if e["action"].startswith("recording")] == [
                "recording.fail",
                "recording.start",
            ]
        finally:
            await room.close()
            await moderator.sio.disconnect()
            await desk.sio.disconnect()


@pytest.fixture(autouse=True)
def _needs_linux() -> None:
    assert hasattr(resource, "RLIMIT_FSIZE")
