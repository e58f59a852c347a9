"""Moderation enforced on media, with real aiortc peers: a muted speaker's sound stops reaching the AV desk
and the attendees, and comes back when unmuted; a removed speaker's media stops at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Running, eventually
from .media_peers import Publisher, Viewer
from .test_media_signaling import attendee, publish, relay_of, staff, subscribe

HAND = {"type": "statement", "language": "en"}


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path)):
        yield running


async def grows(count: Callable[[], int], by: int = 5, timeout: float = 15.0) -> None:
    start = count()
    await eventually(lambda: count() >= start + by, timeout=timeout)


async def still(count: Callable[[], int], quiet: float = 1.0) -> None:
    """Nothing more arrives: the count settles (a frame or two in flight) and then stays put."""
    previous = -1
    while count() != previous:
        previous = count()
        await asyncio.sleep(quiet)


async def test_mute_stops_a_speakers_sound_at_the_av_desk_and_attendees(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    av = await staff(hemicycle, Role.AV)
    speaker = await attendee(hemicycle, "Kofi Mensah")
    listener = await attendee(hemicycle, "Li Wei")
    speaker_id = speaker.last("welcome")["me"]["id"]
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
    assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
    publisher: Publisher
    publisher, published = await publish(speaker, "speaker")
    assert published["ok"], published
    viewers: list[Viewer] = []
    try:
        for client in (av, listener):
            viewer, reply = await subscribe(client, "speaker")
            assert reply["ok"], reply
            viewers.append(viewer)
        desk, attendee_view = viewers
        for viewer in viewers:
            await grows(lambda v=viewer: v.loud_frames)  # type: ignore[misc]
            await grows(lambda v=viewer: v.frames["video"])  # type: ignore[misc]

        muted = await moderator.call(
            "participant:mute", {"participant_id": speaker_id, "audio": True, "reason": "feedback"}
        )
        assert muted["ok"], muted
        told = await speaker.wait_for("moderation:muted")
        assert told["audio"] is True and told["video"] is False, told
        assert relay_of(hemicycle).feed("speaker", "audio").muted
        # The sound stops for everyone; the picture goes on.
        for viewer in viewers:
            await still(lambda v=viewer: v.loud_frames)  # type: ignore[misc]
        heard = [v.loud_frames for v in viewers]
        await grows(lambda: desk.frames["video"])
        await grows(lambda: attendee_view.frames["video"])
        assert [v.loud_frames for v in viewers] == heard, "no sound while muted"

        unmuted = await moderator.call("participant:mute", {"participant_id": speaker_id, "audio": False})
        assert unmuted["ok"], unmuted
        for viewer in viewers:
            await grows(lambda v=viewer: v.loud_frames)  # type: ignore[misc]

        # Removing the speaker stops their media at once and keeps them from publishing again.
        removed = await moderator.call(
            "participant:remove", {"participant_id": speaker_id, "reason": "disruption"}
        )
        assert removed["ok"], removed
        await eventually(lambda: relay_of(hemicycle).publisher("speaker") is None, timeout=5)
        for viewer in viewers:
            await still(lambda v=viewer: v.frames["video"])  # type: ignore[misc]
        frames = [v.frames["video"] for v in viewers]
        await still(lambda: desk.frames["video"], quiet=1.5)
        assert [v.frames["video"] for v in viewers] == frames
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
