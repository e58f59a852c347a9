"""The relay through a real server: Socket.IO offers and answers from real aiortc peers, roles, the floor."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from server.domain.roles import Role
from server.media.relay import ROOM, SPEAKER, SessionRelay, greenroom
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually
from .media_peers import Publisher, Viewer

HAND = {"type": "statement", "language": "en"}


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    """A server whose answered offers must connect within 2 seconds."""
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=2.0)):
        yield running


def relay_of(running: Running) -> SessionRelay:
    relay = running.server.app[MEDIA_KEY].relay(running.live_session)
    assert relay is not None
    return relay


def peer_count(running: Running) -> int:
    relay = running.server.app[MEDIA_KEY].relay(running.live_session)
    return 0 if relay is None else len(relay.peers)


def media_tasks() -> list[str]:
    """Tasks running code of aiortc, aioice or the relay: none once every peer connection is gone."""
    found = []
    for task in asyncio.all_tasks():
        if task.get_name() == "hemicycle-media":  # the service's upkeep loop, there for the app's life
            continue
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        filename = code.co_filename if code else ""
        if any(part in filename for part in ("aiortc", "aioice", "server/media")):
            found.append(f"{filename}:{code.co_name if code else '?'}")
    return found


def decoder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]


async def staff(running: Running, role: Role) -> Client:
    return await running.join(await running.staff_token(role))


async def attendee(running: Running, name: str = "Amina Diallo") -> Client:
    registered = await running.register(display_name=name)
    return await running.join(registered["token"])


async def publish(client: Client, source: str, **extra: Any) -> tuple[Publisher, dict[str, Any]]:
    publisher = Publisher()
    video = source != "channel"
    reply = await client.call(
        "media:publish", {"source": source, "sdp": await publisher.offer(video=video), **extra}
    )
    if not reply["ok"]:
        await publisher.close()
        return publisher, reply
    await publisher.accept(reply["data"]["sdp"])
    return publisher, reply


async def subscribe(
    client: Client, source: str = "room", audio_only: bool = False, **extra: Any
) -> tuple[Viewer, dict[str, Any]]:
    viewer = Viewer()
    offer = await viewer.offer(video=not audio_only)
    reply = await client.call(
        "media:subscribe", {"source": source, "sdp": offer, "audio_only": audio_only, **extra}
    )
    if not reply["ok"]:
        await viewer.close()
        return viewer, reply
    await viewer.accept(reply["data"]["sdp"])
    return viewer, reply


async def test_room_feed_reaches_several_attendees(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    publisher, published = await publish(av, "room")
    assert published["ok"], published
    assert published["data"]["source"] == ROOM
    viewers = []
    for name in ("Amina", "Li", "Olga"):
        viewer, reply = await subscribe(await attendee(hemicycle, name))
        assert reply["ok"], reply
        assert reply["data"]["channel"] == "floor"
        viewers.append(viewer)
    try:
        for viewer in viewers:
            await eventually(lambda v=viewer: v.frames["video"] >= 10 and v.loud_frames >= 5, timeout=15)
            assert viewer.sizes == {(320, 240)}
        config = await av.call("media:config")
        assert config["data"]["ice_servers"] == []
        assert config["data"]["channels"][0] == "floor"
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_floor_decides_who_speaks_and_revoke_stops_forwarding(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    av = await staff(hemicycle, Role.AV)
    speaker = await attendee(hemicycle, "Amina")
    refused_publisher, refused = await publish(speaker, "speaker")
    assert refused["error"]["code"] == "no_floor"
    assert peer_count(hemicycle) == 0

    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
    assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
    publisher, published = await publish(speaker, "speaker")
    assert published["ok"], published
    desk, watching = await subscribe(av, "speaker")
    assert watching["ok"], watching
    try:
        await eventually(lambda: desk.frames["video"] >= 5 and desk.frames["audio"] >= 5, timeout=15)
        feed = relay_of(hemicycle).feed(SPEAKER, "video")
        assert feed.live
        revoked = await moderator.call("floor:end", {"entry_id": entry["id"], "revoke": True})
        assert revoked["ok"]
        # Stopped server-side before the moderator's call returned.
        assert not feed.live
        assert relay_of(hemicycle).publisher(SPEAKER) is None
        stopped = await speaker.wait_for("media:stopped")
        assert stopped == {
            "resource_id": published["data"]["resource_id"],
            "source": SPEAKER,
            "reason": "floor_ended",
        }
        frames = feed.stats.frames
        again_publisher, again = await publish(speaker, "speaker")
        assert again["error"]["code"] == "no_floor"
        assert feed.stats.frames == frames
        await again_publisher.close()

        # Given back, then given to someone else: the first speaker is cut the moment the second is granted.
        entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
        second_publisher, second = await publish(speaker, "speaker")
        assert second["ok"], second
        other = await attendee(hemicycle, "Li")
        other_entry = (await other.call("hand:raise", HAND))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": other_entry["id"]}))["ok"]
        assert relay_of(hemicycle).publisher(SPEAKER) is None
        await second_publisher.close()
    finally:
        await desk.close()
        await publisher.close()
        await refused_publisher.close()


async def test_green_room_reaches_staff_and_never_attendees(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    queued = await attendee(hemicycle, "Amina")
    other = await attendee(hemicycle, "Li")
    not_queued_publisher, not_queued = await publish(queued, "greenroom")
    assert not_queued["error"]["code"] == "not_queued"
    await queued.call("hand:raise", HAND)
    me = queued.last("welcome")["me"]["id"]
    publisher, published = await publish(queued, "greenroom")
    assert published["ok"], published
    assert published["data"]["source"] == greenroom(me)
    try:
        nosy, refused = await subscribe(other, "greenroom", participant_id=me)
        assert refused["error"]["code"] == "not_av"
        listener, allowed = await subscribe(av, "greenroom", participant_id=me)
        assert allowed["ok"], allowed
        await eventually(lambda: listener.frames["video"] >= 5 and listener.loud_frames >= 3, timeout=15)
        # Attendees on the room feed and the speaker source get nothing of it.
        room, _ = await subscribe(other, "room")
        speaker, _ = await subscribe(other, "speaker")
        viewers = [p for p in relay_of(hemicycle).peers.values() if p.role == "view"]
        greenroom_feeds = {id(relay_of(hemicycle).feed(greenroom(me), kind)) for kind in ("audio", "video")}
        for peer in viewers:
            if peer.participant_id != av.last("welcome")["me"]["id"]:
                assert not greenroom_feeds & {id(f) for f in peer.feeds.values()}
        # Lowering the hand ends the device check.
        await queued.call("hand:lower")
        await eventually(lambda: relay_of(hemicycle).publisher(greenroom(me)) is None, timeout=5)
        for viewer in (listener, room, speaker, nosy):
            await viewer.close()
    finally:
        await publisher.close()
        await not_queued_publisher.close()


async def test_language_channel_switch_and_audio_only(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    interpreter = await staff(hemicycle, Role.INTERPRETER)
    room, _ = await publish(av, "room")
    french, published = await publish(interpreter, "channel", channel="fr")
    assert published["ok"], published
    person = await attendee(hemicycle)
    viewer, reply = await subscribe(person, "room", audio_only=True)
    try:
        assert reply["ok"], reply
        assert reply["data"]["audio_only"] is True
        await eventually(lambda: viewer.frames["audio"] >= 10, timeout=15)
        assert viewer.kinds == ["audio"]
        assert [t.kind for t in viewer.pc.getTransceivers()] == ["audio"]
        resource = reply["data"]["resource_id"]
        switched = await person.call("media:channel", {"resource_id": resource, "channel": "fr"})
        assert switched["ok"], switched
        assert switched["data"]["channel"] == "fr"
        peer = relay_of(hemicycle).find(resource)
        assert peer.feeds["audio"] is relay_of(hemicycle).feed("channel:fr", "audio")
        before = viewer.frames["audio"]
        await eventually(lambda: viewer.frames["audio"] >= before + 20, timeout=10)
        bad = await person.call("media:channel", {"resource_id": resource, "channel": "xx"})
        assert bad["error"]["code"] == "invalid_input"
        attendee_channel, refused = await publish(person, "channel", channel="en")
        assert refused["error"]["code"] == "not_interpreter"
        await attendee_channel.close()
    finally:
        await viewer.close()
        await french.close()
        await room.close()


async def test_bad_requests_get_clear_errors_and_change_nothing(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    person = await attendee(hemicycle)
    good_offer = await Publisher().offer()
    cases: list[tuple[Client, str, Any, str]] = [
        (av, "media:publish", {"source": "room", "sdp": "hello"}, "invalid_sdp"),
        (av, "media:publish", {"source": "room", "sdp": "v=0\r\nnonsense"}, "invalid_sdp"),
        (av, "media:publish", {"source": "room", "sdp": "v=0" + "x" * 60_500}, "invalid_input"),
        (av, "media:publish", {"source": "stage", "sdp": good_offer}, "invalid_input"),
        (av, "media:publish", {"source": "room", "sdp": good_offer, "extra": 1}, "invalid_input"),
        (av, "media:publish", "not an object", "invalid_input"),
        (person, "media:publish", {"source": "room", "sdp": good_offer}, "not_av"),
        (av, "media:publish", {"source": "channel", "channel": "fr", "sdp": good_offer}, "invalid_offer"),
        (person, "media:subscribe", {"source": "room", "sdp": good_offer}, "invalid_offer"),
        (person, "media:stop", {"resource_id": "nothing-here"}, "media_not_found"),
        (person, "media:channel", {"resource_id": "nothing-here", "channel": "fr"}, "media_not_found"),
        (person, "media:ice", {"resource_id": "nothing-here", "candidate": "x"}, "media_not_found"),
    ]
    for client, event, payload, code in cases:
        reply = await client.call(event, payload)
        assert not reply["ok"], (event, payload)
        assert reply["error"]["code"] == code, (event, reply)
        assert client.last("error")["event"] == event
    only_pcmu = good_offer.replace("opus/48000/2", "foo/48000/2")
    only_pcmu = "\r\n".join(
        line for line in only_pcmu.split("\r\n") if "VP8" not in line and "H264" not in line
    )
    reply = await av.call("media:publish", {"source": "room", "sdp": only_pcmu})
    assert reply["error"]["code"] == "codec_unsupported", reply
    assert peer_count(hemicycle) == 0


async def test_failed_and_abandoned_negotiations_leak_nothing(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    people = [await attendee(hemicycle, f"Viewer {n}") for n in range(5)]
    person = people[0]
    first, _ = await subscribe(person)  # the relay exists from here on
    await first.close()
    await eventually(lambda: not relay_of(hemicycle).peers, timeout=10)
    await eventually(lambda: not media_tasks() and not decoder_threads(), timeout=10)
    for round_ in range(50):
        # A refused one: the offer does not fit the source.
        assert not (await av.call("media:publish", {"source": "room", "sdp": "v=0\r\nx"}))["ok"]
        # An abandoned one: answered, then the client walks away without connecting.
        peer = Publisher() if round_ % 2 else Viewer()
        offer = await peer.offer()
        event = "media:publish" if isinstance(peer, Publisher) else "media:subscribe"
        reply = await (av if isinstance(peer, Publisher) else people[round_ % 5]).call(
            event, {"source": "room", "sdp": offer}
        )
        assert reply["ok"], reply
        await peer.close()
    await eventually(lambda: not relay_of(hemicycle).peers, timeout=15)
    await eventually(lambda: not decoder_threads(), timeout=10)
    await eventually(lambda: not media_tasks(), timeout=10)


async def test_disconnecting_frees_the_connections_peers(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    publisher, published = await publish(av, "room")
    assert published["ok"]
    person = await attendee(hemicycle)
    viewer, _ = await subscribe(person)
    await eventually(lambda: viewer.frames["video"] >= 3, timeout=15)
    await person.close()
    await eventually(lambda: len(relay_of(hemicycle).peers) == 1, timeout=5)
    await av.close()
    await eventually(lambda: not relay_of(hemicycle).peers, timeout=5)
    await viewer.close()
    await publisher.close()


async def test_turn_credentials_follow_the_coturn_scheme(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478?transport=udp",),
        turn_secret="shared-turn-secret",
        turn_ttl_seconds=600,
    )
    async for running in run_app(settings):
        person = await attendee(running)
        me = person.last("welcome")["me"]["id"]
        config = (await person.call("media:config"))["data"]
        stun, turn = config["ice_servers"]
        assert stun == {"urls": ["stun:stun.example.org:3478"]}
        expiry, user = turn["username"].split(":")
        assert user == str(me)
        expected = base64.b64encode(
            hmac.new(b"shared-turn-secret", turn["username"].encode(), hashlib.sha1).digest()
        ).decode()
        assert turn["credential"] == expected
        assert datetime.fromisoformat(config["expires_at"]).timestamp() == int(expiry)


async def test_health_reaches_the_av_desk_and_not_attendees(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    publisher, published = await publish(av, "room")
    assert published["ok"], published
    person = await attendee(hemicycle)
    viewer, _ = await subscribe(person)
    try:
        await eventually(lambda: viewer.frames["video"] >= 30, timeout=15)
        pushed = await av.wait_for("media:health", lambda r: bool(r["sources"].get("room")), timeout=10)
        room = pushed["sources"]["room"]
        assert room["viewers"] == 1
        assert room["connection"] == "connected"
        assert room["kinds"]["video"]["codec"] == "video/VP8"
        assert room["kinds"]["video"]["bitrate_kbps"] > 0
        assert room["kinds"]["audio"]["audio_level_dbov"] is not None
        assert room["kinds"]["audio"]["audio_level_dbov"] > -60  # the tone, not silence
        # The publisher reports its round-trip time; the AV desk sees it.
        reported = await av.call(
            "media:health", {"resource_id": published["data"]["resource_id"], "rtt_ms": 12.5}
        )
        assert reported["data"]["sources"]["room"]["rtt_ms"] == 12.5
        mine = await person.call("media:health", {})
        assert mine["data"] == {"recorded": False}
        assert person.received("media:health") == []
    finally:
        await viewer.close()
        await publisher.close()


async def test_ending_the_session_ends_its_media(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    moderator = await staff(hemicycle, Role.MODERATOR)
    publisher, published = await publish(av, "room")
    assert published["ok"], published
    viewer, _ = await subscribe(await attendee(hemicycle))
    try:
        await eventually(lambda: viewer.frames["video"] >= 3, timeout=15)
        assert (await moderator.call("session:set_state", {"state": "ended"}))["ok"]
        await eventually(lambda: not relay_of(hemicycle).peers, timeout=5)
        stopped = await av.wait_for("media:stopped")
        assert stopped["reason"] == "session_ended"
        late, refused = await subscribe(await attendee(hemicycle, "Late"))
        assert refused["error"]["code"] == "session_ended"
        await late.close()
    finally:
        await viewer.close()
        await publisher.close()


async def test_stored_mutes_apply_when_publishing_and_on_reconcile(hemicycle: Running) -> None:
    """Participant moderation stores mutes; the relay reads them through MediaService.muted_in."""
    service = hemicycle.server.app[MEDIA_KEY]
    mutes: dict[int, tuple[bool, bool]] = {}

    async def muted_in(session_id: int) -> dict[int, tuple[bool, bool]]:
        return dict(mutes)

    service.muted_in = muted_in
    av = await staff(hemicycle, Role.AV)
    me = av.last("welcome")["me"]["id"]
    mutes[me] = (True, False)
    publisher, published = await publish(av, "room")
    assert published["ok"], published
    try:
        peer = relay_of(hemicycle).find(published["data"]["resource_id"])
        assert peer.muted == {"audio": True, "video": False}
        assert relay_of(hemicycle).feed(ROOM, "audio").muted
        mutes.clear()
        await service.reconcile(relay_of(hemicycle))
        assert peer.muted == {"audio": False, "video": False}
        await service.set_muted(hemicycle.live_session, me, False, True)
        assert relay_of(hemicycle).feed(ROOM, "video").muted
        health = (await av.call("media:health", {}))["data"]
        assert health["sources"]["room"]["muted"] == {"audio": False, "video": True}
        await service.participant_gone(hemicycle.live_session, me)
        await eventually(lambda: not relay_of(hemicycle).peers, timeout=5)
        assert (await av.wait_for("media:stopped"))["reason"] == "removed"
    finally:
        await publisher.close()
