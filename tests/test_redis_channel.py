"""Two deployments on one Redis server stay apart when their channels differ (HEMICYCLE_REDIS_CHANNEL)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from server.domain.roles import Role
from server.keys import HUB_KEY
from server.settings import Settings, SettingsError
from signaling.hub import session_room

from .conftest import make_settings, run_app


def test_channel_names_are_checked() -> None:
    assert Settings.from_env({"HEMICYCLE_SECRET": "x" * 32}).redis_channel == "hemicycle"
    assert Settings.from_env({"HEMICYCLE_REDIS_CHANNEL": "geneva-2026"}).redis_channel == "geneva-2026"
    with pytest.raises(SettingsError, match="HEMICYCLE_REDIS_CHANNEL"):
        Settings.from_env({"HEMICYCLE_REDIS_CHANNEL": "two words"}).resolved()


async def test_deployments_on_one_redis_hear_only_their_own_channel(
    tmp_path: Path, fresh_redis_url: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        apps = {}
        for name, channel in (("geneva", "geneva"), ("other", "elsewhere"), ("geneva-2", "geneva")):
            # A made-up event crosses Redis: no model of signaling/messages.py applies to it.
            settings = make_settings(
                tmp_path / name, redis_url=fresh_redis_url, redis_channel=channel, check_messages=False
            )
            apps[name] = await stack.enter_async_context(contextlib.asynccontextmanager(run_app)(settings))
        watcher = await apps["geneva"].join(await apps["geneva"].staff_token(Role.MODERATOR))
        session = apps["geneva"].live_session
        await asyncio.sleep(0.5)  # the managers' listeners subscribe

        await (
            apps["other"]
            .server.app[HUB_KEY]
            .sio.emit("notice:test", {"from": "elsewhere"}, room=session_room(session))
        )
        await (
            apps["geneva-2"]
            .server.app[HUB_KEY]
            .sio.emit("notice:test", {"from": "geneva-2"}, room=session_room(session))
        )
        await watcher.wait_for("notice:test", lambda data: data["from"] == "geneva-2")
        await asyncio.sleep(0.3)
        assert [data["from"] for data in watcher.received("notice:test")] == ["geneva-2"]
