"""Two deployments on one Redis server stay apart when their channels differ (HEMICYCLE_REDIS_CHANNEL)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from server.domain.roles import Role
from server.keys import HUB_KEY
from server.settings import Settings, SettingsError
from signaling.fanout import SIGNAL_EVENT, SIGNAL_ROOM, fanout_up
from signaling.hub import session_room

from .conftest import make_settings, run_app
from .helpers import eventually


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
        # Each manager has subscribed (a fixed pause was too short on a loaded machine).
        await eventually(lambda: all(fanout_up(app.server.app[HUB_KEY].sio.manager) for app in apps.values()))

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


async def test_signals_reach_every_process_once_and_bad_ones_are_ignored(
    tmp_path: Path, fresh_redis_url: str
) -> None:
    """A signal (signaling/fanout.py) runs its handler once on every process of the deployment, the sender
    first; a malformed one from elsewhere is logged and ignored, and the next goes through."""
    async with contextlib.AsyncExitStack() as stack:
        hubs = []
        for name in ("a", "b"):
            settings = make_settings(tmp_path / name, redis_url=fresh_redis_url, redis_channel="signals")
            running = await stack.enter_async_context(contextlib.asynccontextmanager(run_app)(settings))
            hubs.append(running.server.app[HUB_KEY])
        heard: list[tuple[str, dict[str, object]]] = []
        for name, hub in zip("ab", hubs, strict=True):

            async def handler(data: dict[str, object], name: str = name) -> None:
                heard.append((name, data))

            hub.sio.manager.on_signal("probe", handler)
        await eventually(lambda: all(hub.sio.manager.listening for hub in hubs))
        await asyncio.sleep(0.3)  # subscribed, and the subscription in effect

        await hubs[0].sio.manager.signal("probe", {"n": 1})
        assert heard == [("a", {"n": 1})], "the sender's own handler first, before anything crosses Redis"
        await eventually(lambda: len(heard) == 2)
        assert heard[1] == ("b", {"n": 1})

        manager = hubs[0].sio.manager
        for junk in ("not a dict", {"kind": "probe", "data": "not a dict"}, {"kind": "unknown", "data": {}}):
            await manager._publish(
                {"method": "emit", "event": SIGNAL_EVENT, "data": [junk], "binary": False, "namespace": "/",
                 "room": SIGNAL_ROOM, "skip_sid": None, "callback": None, "host_id": "elsewhere"}
            )  # fmt: skip
        await hubs[1].sio.manager.signal("probe", {"n": 2})
        await eventually(lambda: len(heard) == 4)
        assert sorted(heard[2:], key=lambda h: h[0]) == [("a", {"n": 2}), ("b", {"n": 2})]
        await asyncio.sleep(0.2)
        assert len(heard) == 4, "nothing more, nothing twice"


async def test_each_process_counts_presence_for_its_own_connections(
    tmp_path: Path, fresh_redis_url: str
) -> None:
    """Three processes on one database and one Redis: joins on one are signalled (signaling/presence.py),
    and each process with connections in the session counts and tells its own; one with nobody there
    counts nothing. Before, the process where people joined broadcast its counts to everyone, and with
    joins on two processes everyone got both."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    async with contextlib.AsyncExitStack() as stack:
        runs = []
        for name in ("a", "b", "c"):
            (tmp_path / name).mkdir()
            settings = make_settings(
                tmp_path / name, database, redis_url=fresh_redis_url, redis_channel="presence"
            )
            runs.append(await stack.enter_async_context(contextlib.asynccontextmanager(run_app)(settings)))
        a, b, _c = runs
        hubs = [run.server.app[HUB_KEY] for run in runs]
        await eventually(lambda: all(hub.sio.manager.listening for hub in hubs))
        await asyncio.sleep(0.3)  # subscribed, and the subscriptions in effect
        live = a.live_session

        watcher = await a.join((await a.register(display_name="Watcher"))["token"])
        await watcher.wait_for("presence", lambda p: p["total"] == 1)
        assert hubs[0].presence.audience(live) == 1
        for i in range(3):
            await b.join((await b.register(display_name=f"Delegate {i}"))["token"])
        await watcher.wait_for("presence", lambda p: p["total"] == 4, timeout=10)
        # The watcher's count came from its own process, which counted when told of the joins elsewhere.
        assert hubs[0].presence.audience(live) == 4
        await eventually(lambda: hubs[1].presence.audience(live) == 4)
        await asyncio.sleep(0.5)
        assert hubs[2].presence.audience(live) == 0, "nobody there: nothing counted, nothing sent"
        assert all(p["total"] <= 4 for p in watcher.received("presence"))
