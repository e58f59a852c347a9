"""The forwarding relay on its own, with real aiortc peers on loopback: frames go through undecoded."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable
from itertools import accumulate, pairwise
from types import SimpleNamespace

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from server.media import forward as forward_module
from server.media import seams, timeline
from server.media.errors import MediaError
from server.media.forward import GOP_REPLAY_SECONDS, SSRC_SWITCH_SECONDS, Feed, ForwardTrack
from server.media.relay import MAX_PEERS_PER_PARTICIPANT, ROOM, SPEAKER, SessionRelay, channel
from server.media.timeline import unix_from_ntp

from .helpers import eventually
from .media_peers import NO_ICE, Publisher, Viewer


@pytest.fixture
async def relay() -> AsyncIterator[SessionRelay]:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=10.0)
    yield relay
    await relay.close()


async def publish(relay: SessionRelay, source: str = ROOM, **kwargs: bool) -> Publisher:
    publisher = Publisher()
    peer = await relay.publish(await publisher.offer(**kwargs), source, 1)
    await publisher.accept(peer.answer)
    return publisher


async def view(relay: SessionRelay, source: str = ROOM, audio_only: bool = False, **kwargs: object) -> Viewer:
    viewer = Viewer()
    offer = await viewer.offer(video=not audio_only)
    peer = await relay.view(offer, source, 2, audio_only=audio_only, **kwargs)  # type: ignore[arg-type]
    await viewer.accept(peer.answer)
    viewer.resource_id = peer.id  # type: ignore[attr-defined]
    return viewer


async def test_frames_reach_every_viewer_without_decoding(relay: SessionRelay) -> None:
    publisher = await publish(relay)
    viewers = [await view(relay) for _ in range(3)]
    try:
        for viewer in viewers:
            await eventually(lambda v=viewer: v.frames["video"] >= 10 and v.frames["audio"] >= 10, timeout=15)
            assert viewer.sizes == {(320, 240)}
            await eventually(lambda v=viewer: v.loud_frames > 5, timeout=5)
        # The publisher's receivers were tapped: their decoder threads never got a frame to decode.
        publishing = relay.publisher(ROOM)
        assert publishing is not None
        assert all(seams.is_tapped(r) for r in publishing.receivers.values())
        assert relay.feed(ROOM, "video").stats.frames > 0
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_late_viewer_gets_a_keyframe_on_join(relay: SessionRelay) -> None:
    """aiortc's encoder sends a keyframe every 3000 frames: a picture soon after joining means the
    relay asked the publisher for one."""
    publisher = await publish(relay)
    first = await view(relay)
    try:
        # Past the replay window of the first keyframe: the late viewer needs a new one.
        await eventually(lambda: first.frames["video"] >= 60, timeout=15)
        keyframes = relay.feed(ROOM, "video").stats.keyframes
        late = await view(relay)
        await eventually(lambda: late.frames["video"] >= 5, timeout=10)
        assert relay.feed(ROOM, "video").stats.keyframes > keyframes
        await late.close()
    finally:
        await first.close()
        await publisher.close()


async def test_channel_switch_without_renegotiation(relay: SessionRelay) -> None:
    room = await publish(relay)
    french = await publish(relay, channel("fr"), video=False)
    viewer = await view(relay)
    try:
        await eventually(lambda: viewer.frames["audio"] >= 10, timeout=15)
        resource = viewer.resource_id  # type: ignore[attr-defined]
        peer = relay.set_channel(resource, "fr")
        assert peer.feeds["audio"] is relay.feed(channel("fr"), "audio")
        before = viewer.frames["audio"]
        await eventually(lambda: viewer.frames["audio"] >= before + 20, timeout=10)
        assert viewer.pc.signalingState == "stable"
        with pytest.raises(MediaError) as refused:
            relay.set_channel(resource, "klingon")
        assert refused.value.code == "invalid_channel"
        # Back on the floor: the room feed's sound, until a separate floor channel is published, and again
        # after it ends.
        relay.set_channel(resource, "floor")
        assert peer.feeds["audio"] is relay.feed(ROOM, "audio")
        floor = await publish(relay, channel("floor"), video=False)
        assert peer.feeds["audio"] is relay.feed(channel("floor"), "audio")
        floor_peer = relay.publisher(channel("floor"))
        assert floor_peer is not None
        await relay.stop(floor_peer.id)
        assert peer.feeds["audio"] is relay.feed(ROOM, "audio")
        await floor.close()
    finally:
        await viewer.close()
        await french.close()
        await room.close()


async def test_one_participant_cannot_pile_up_connections(relay: SessionRelay) -> None:
    viewers = [Viewer() for _ in range(MAX_PEERS_PER_PARTICIPANT + 1)]
    try:
        for viewer in viewers[:-1]:
            await relay.view(await viewer.offer(), ROOM, 7)
        with pytest.raises(MediaError) as refused:
            await relay.view(await viewers[-1].offer(), ROOM, 7)
        assert (refused.value.code, refused.value.status) == ("too_many_media", 429)
        assert len(relay.peers) == MAX_PEERS_PER_PARTICIPANT
        await relay.view(await Viewer().offer(), ROOM, 8)  # someone else still may
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_audio_only_viewer_has_no_video_at_all(relay: SessionRelay) -> None:
    publisher = await publish(relay)
    viewer = await view(relay, audio_only=True)
    try:
        await eventually(lambda: viewer.frames["audio"] >= 10, timeout=15)
        assert viewer.kinds == ["audio"]
        assert viewer.frames["video"] == 0
        assert len(viewer.pc.getTransceivers()) == 1
    finally:
        await viewer.close()
        await publisher.close()


async def test_stopping_a_publisher_stops_forwarding_at_once(relay: SessionRelay) -> None:
    publisher = await publish(relay, SPEAKER)
    viewer = await view(relay, SPEAKER)
    try:
        await eventually(lambda: viewer.frames["video"] >= 5, timeout=15)
        speaker = relay.publisher(SPEAKER)
        assert speaker is not None
        relay.stop_now([speaker], "floor_revoked")
        feed = relay.feed(SPEAKER, "video")
        assert not feed.live
        frames = feed.stats.frames
        await asyncio.sleep(0.3)
        assert feed.stats.frames == frames
        await eventually(lambda: speaker.id not in relay.peers)
    finally:
        await viewer.close()
        await publisher.close()


async def test_h264_is_forwarded_as_h264(relay: SessionRelay) -> None:
    publisher = await publish(relay, video_codec="video/H264")
    viewer = await view(relay)
    try:
        assert relay.feed(ROOM, "video").mime == "video/H264"
        await eventually(lambda: viewer.frames["video"] >= 10, timeout=20)
        sender = next(t for t in viewer.pc.getTransceivers() if t.kind == "video")
        assert seams.negotiated_codecs(sender)[0].mimeType == "video/H264"
    finally:
        await viewer.close()
        await publisher.close()


async def test_abandoned_negotiations_leak_nothing() -> None:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=0.5)
    threads = threading.active_count()
    tasks = len(asyncio.all_tasks())
    try:
        for attempt in range(20):
            publisher = Publisher()
            await relay.publish(await publisher.offer(), ROOM, 1)
            await publisher.close()  # never takes the answer
            viewer = Viewer()
            await relay.view(await viewer.offer(), ROOM, 100 + attempt)
            await viewer.close()
        await eventually(lambda: not relay.peers, timeout=10)
        await eventually(lambda: len(asyncio.all_tasks()) <= tasks, timeout=10)
        await eventually(lambda: threading.active_count() <= threads, timeout=10)
    finally:
        await relay.close()


async def test_viewers_of_another_codec_are_told_to_subscribe_again() -> None:
    stopped: list[tuple[str, str]] = []
    relay = SessionRelay(
        1, lambda: NO_ICE, 10.0, on_stopped=lambda peer, reason: stopped.append((peer.id, reason))
    )
    early = Viewer()
    try:
        # Nobody publishes yet: the viewer agrees on VP8, the relay's first choice.
        peer = await relay.view(await early.offer(), ROOM, 2)
        await early.accept(peer.answer)
        publisher = await publish(relay, video_codec="video/H264")
        await eventually(lambda: (peer.id, "codec_changed") in stopped, timeout=5)
        assert peer.id not in relay.peers
        # Subscribing again gets the publisher's codec.
        again = await view(relay)
        await eventually(lambda: again.frames["video"] >= 5, timeout=20)
        await again.close()
        await publisher.close()
    finally:
        await early.close()
        await relay.close()


async def test_a_muted_publisher_reaches_nobody_until_unmuted(relay: SessionRelay) -> None:
    publisher = await publish(relay, SPEAKER)
    viewer = await view(relay, SPEAKER)
    try:
        await eventually(lambda: viewer.frames["video"] >= 5 and viewer.frames["audio"] >= 5, timeout=15)
        speaker = relay.publisher(SPEAKER)
        assert speaker is not None
        peer = relay.find(viewer.resource_id)  # type: ignore[attr-defined]
        assert relay.set_muted(1, audio=True, video=True) == [speaker]
        sent = {kind: track.sent_packets for kind, track in peer.tracks.items()}
        # Packets keep arriving from the publisher, no frame goes out; the connection stays up.
        packets = relay.feed(SPEAKER, "audio").stats.packets
        await eventually(lambda: relay.feed(SPEAKER, "audio").stats.packets >= packets + 20, timeout=5)
        assert {kind: track.sent_packets for kind, track in peer.tracks.items()} == sent
        assert speaker.pc.connectionState == "connected"
        # Unmuted: pictures again, from a keyframe.
        relay.set_muted(1, audio=False, video=False)
        before = viewer.frames["video"]
        await eventually(lambda: viewer.frames["video"] >= before + 5, timeout=10)
    finally:
        await viewer.close()
        await publisher.close()


class RecordingPort:
    """Stands in for a connected viewer's sender: records the packets written to it."""

    def __init__(self) -> None:
        self.written: list[tuple[int, int, int, bytes]] = []
        self.ntp: list[int] = []  # the NTP time each packet was written with (its sender reports' figure)

    def ready(self) -> bool:
        return True

    def send(self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int) -> None:
        self.written.append((sequence_number, timestamp, marker, payload))
        self.ntp.append(ntp_time)


def connected_track(kind: str = "video", catch_up: bool = True) -> tuple[ForwardTrack, RecordingPort]:
    track = ForwardTrack(kind, "video/VP8" if kind == "video" else "audio/opus", catch_up=catch_up)
    port = RecordingPort()
    track.port = port  # type: ignore[assignment]
    return track, port


VP8_CODEC = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def room_video() -> tuple[Feed, object, list[int]]:
    """A video feed with a stand-in publisher attached; the list gathers the keyframes asked of it."""
    asked: list[int] = []
    publisher = object()
    feed = Feed("video", "room/video")
    feed.attach(publisher, VP8_CODEC, asked.append)
    return feed, publisher, asked


def vp8(sequence_number: int, timestamp: int, key: bool = False, first: bool = True) -> RtpPacket:
    """A VP8 RTP packet: descriptor (S bit when it begins the frame), then the frame tag's key bit."""
    payload = bytes([0x10 if first else 0x00, 0x00 if key else 0x01]) + bytes(20)
    return RtpPacket(payload_type=96, sequence_number=sequence_number, timestamp=timestamp, payload=payload)


async def test_viewers_joining_just_after_a_keyframe_start_from_it_at_once() -> None:
    """Feed on its own, with a stand-in publisher: replay within the window, a keyframe request after it."""
    feed, publisher, asked = room_video()
    early, early_port = connected_track()
    early.attach(feed)
    # A keyframe in two packets, then four frames of one packet.
    await feed.on_rtp(publisher, vp8(100, 0, key=True))
    await feed.on_rtp(publisher, vp8(101, 0, key=True, first=False))
    for n in range(1, 5):
        await feed.on_rtp(publisher, vp8(101 + n, 3000 * n))
    assert len(early_port.written) == 6
    # Out: consecutive sequence numbers and the publisher's spacing of timestamps, from a random origin.
    sequence_numbers = [written[0] for written in early_port.written]
    assert [(n - sequence_numbers[0]) & 0xFFFF for n in sequence_numbers] == [0, 1, 2, 3, 4, 5]
    timestamps = [written[1] for written in early_port.written]
    assert [(t - timestamps[0]) & 0xFFFFFFFF for t in timestamps] == [0, 0, 3000, 6000, 9000, 12000]
    # A viewer connecting now gets the keyframe and the packets since, before the next packet.
    fresh, fresh_port = connected_track()
    fresh.attach(feed)
    assert fresh.waiting_keyframe
    await feed.on_rtp(publisher, vp8(106, 15000))
    assert not fresh.waiting_keyframe
    assert [written[3] for written in fresh_port.written] == [w[3] for w in early_port.written]
    assert asked == []
    # Long after the keyframe, a joining viewer waits for a new one, asked of the publisher (once).
    feed._gop_started -= 2 * GOP_REPLAY_SECONDS
    late, late_port = connected_track()
    late.attach(feed)
    await feed.on_rtp(publisher, vp8(107, 18000))
    await feed.on_rtp(publisher, vp8(108, 21000))
    assert late.waiting_keyframe and late_port.written == []
    assert asked == [feed.stats.ssrc]
    # The keyframe arrives: the late viewer starts with it.
    await feed.on_rtp(publisher, vp8(109, 24000, key=True))
    assert not late.waiting_keyframe and len(late_port.written) == 1
    feed.close()


async def test_a_file_waits_for_a_new_keyframe_rather_than_one_replayed() -> None:
    """The recorder's sinks do not catch up from the last keyframe: they ask for a new one and start there."""
    feed, publisher, asked = room_video()
    viewer, viewer_port = connected_track()
    viewer.attach(feed)
    await feed.on_rtp(publisher, vp8(100, 0, key=True))
    await feed.on_rtp(publisher, vp8(101, 3000))
    sink, sink_port = connected_track(catch_up=False)
    sink.attach(feed)
    await feed.on_rtp(publisher, vp8(102, 6000))
    await feed.on_rtp(publisher, vp8(103, 9000))
    # The keyframe was a moment ago: a viewer would have had it; the file waits, and asked for one (once).
    assert sink.waiting_keyframe and sink_port.written == [] and asked == [feed.stats.ssrc]
    await feed.on_rtp(publisher, vp8(104, 12000, key=True))
    assert not sink.waiting_keyframe and [w[3] for w in sink_port.written] == [
        vp8(104, 12000, key=True).payload
    ]
    assert len(viewer_port.written) == 5
    feed.close()


async def test_a_viewer_switched_to_another_feed_continues_its_own_stream() -> None:
    """Sequence numbers run on by one and timestamps move forward when the source behind a viewer changes."""
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    first, second = object(), object()
    floor, french = Feed("audio", "room/audio"), Feed("audio", "channel:fr/audio")
    floor.attach(first, codec, lambda ssrc: None)
    french.attach(second, codec, lambda ssrc: None)
    track, port = connected_track("audio")
    track.attach(floor)
    for n in range(3):
        await floor.on_rtp(
            first, RtpPacket(payload_type=111, sequence_number=n, timestamp=960 * n, payload=b"o")
        )
    track.attach(french)
    await french.on_rtp(second, RtpPacket(payload_type=111, sequence_number=5000, timestamp=77, payload=b"f"))
    # Packets of the feed it left no longer reach it.
    await floor.on_rtp(first, RtpPacket(payload_type=111, sequence_number=3, timestamp=2880, payload=b"o"))
    assert [written[3] for written in port.written] == [b"o", b"o", b"o", b"f"]
    sequence_numbers = [written[0] for written in port.written]
    assert [(n - sequence_numbers[0]) & 0xFFFF for n in sequence_numbers] == [0, 1, 2, 3]
    timestamps = [written[1] for written in port.written]
    assert (timestamps[3] - timestamps[2]) & 0xFFFFFFFF >= 960
    floor.close()
    french.close()


async def test_switches_with_late_keyframes_keep_the_stream_on_the_time_its_frames_were_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recorder's floor switching between the room and a speaker, twenty times: each keyframe asked for
    at a switch arrives 300 ms late (big, and from an encoder that was behind), the frames due meanwhile right
    behind it. The stream out stays on the time its frames were taken: placed by their arrival, each switch
    would have moved the picture 0.3 s ahead of the sound, 6 s in all."""
    now = [0.0]
    monkeypatch.setattr(
        forward_module, "time", SimpleNamespace(perf_counter=lambda: now[0], monotonic=lambda: now[0])
    )
    epoch = 1_800_000_000.0  # our clock's 0 in wall-clock time
    ntp_now = SimpleNamespace(current_ntp_time=lambda: round((now[0] + epoch + 2_208_988_800) * (1 << 32)))
    monkeypatch.setattr(timeline, "clock", ntp_now)
    fps, delay, keyframe_delay, switch_every = 30, 0.010, 0.300, 2.0
    publishers = (object(), object())
    feeds = (Feed("video", "room/video"), Feed("video", "speaker/video"))
    for index, feed in enumerate(feeds):
        feed.attach(publishers[index], VP8_CODEC, lambda ssrc: None)
    origins = (123_456, 4_000_000_000)  # each publisher's own RTP clock
    track, port = connected_track()
    written_at: list[float] = []  # when each packet written out was taken
    events: list[tuple[float, int, int, bool]] = []  # (arrival, feed, frame, keyframe)
    switches = [switch_every * (k + 1) for k in range(20)]
    for index in (0, 1):
        keyframe_due = [0.0] if index == 0 else []
        keyframe_due += [t for k, t in enumerate(switches) if (k + 1) % 2 == index]
        held_until = 0.0
        for n in range(int((switches[-1] + switch_every) * fps)):
            taken = n / fps
            key = bool(keyframe_due) and taken >= keyframe_due[0]
            if key:
                keyframe_due.pop(0)
                held_until = taken + keyframe_delay
            events.append((max(taken + delay, held_until), index, n, key))
    events.sort()
    current = 0
    track.attach(feeds[0])
    for arrival, index, n, key in events:
        while switches and arrival >= switches[0]:
            switches.pop(0)
            current = 1 - current
            track.attach(feeds[current])
        now[0] = arrival
        before = len(port.written)
        await feeds[index].on_rtp(
            publishers[index], vp8(n & 0xFFFF, (origins[index] + n * 3000) & 0xFFFFFFFF, key=key)
        )
        written_at.extend([n / fps] * (len(port.written) - before))
    timestamps = [written[1] for written in port.written]
    assert len({index for _, index, _, _ in events}) == 2 and len(timestamps) > 20 * switch_every * fps * 0.9
    out = [
        0,
        *accumulate((following - previous) & 0xFFFFFFFF for previous, following in pairwise(timestamps)),
    ]
    # Each packet's time out, less when it was taken: the same for all, within a frame.
    errors = [ticks / 90000 - taken for ticks, taken in zip(out, written_at, strict=True)]
    assert max(errors) - min(errors) < 1 / fps, (min(errors), max(errors))
    # And each packet goes with when it was taken (the frames that waited least were 10 ms on the way): what
    # the viewer's sender reports pair with its timestamps, so picture and sound keep in step in a player.
    # From the first switch on: until a frame on time comes, the first late keyframe is all there is to go by.
    told = [
        unix_from_ntp(ntp) - epoch - taken
        for ntp, taken in zip(port.ntp, written_at, strict=True)
        if taken >= switch_every
    ]
    assert max(abs(t - delay) for t in told) < 0.001, (min(told), max(told))
    for feed in feeds:
        feed.close()


async def test_a_viewer_behind_a_turn_relay_gets_its_packets_in_order_after_the_direct_ones() -> None:
    """Writes that must be awaited (a TURN relay) wait until every direct viewer has the packet."""
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    publisher = object()
    feed = Feed("audio", "room/audio")
    feed.attach(publisher, codec, lambda ssrc: None)
    events: list[str] = []

    class RelayedPort(RecordingPort):
        def send(  # type: ignore[override]
            self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int
        ) -> Awaitable[None]:
            async def through_turn() -> None:
                events.append(f"relayed {payload.decode()}")

            return through_turn()

    class DirectPort(RecordingPort):
        def send(
            self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int
        ) -> None:
            events.append(f"direct {payload.decode()}")

    relayed, direct = ForwardTrack("audio", "audio/opus"), ForwardTrack("audio", "audio/opus")
    relayed.port, direct.port = RelayedPort(), DirectPort()  # type: ignore[assignment]
    relayed.attach(feed)
    direct.attach(feed)
    for n in range(2):
        await feed.on_rtp(publisher, RtpPacket(payload_type=111, sequence_number=n, payload=str(n).encode()))
    assert events == ["direct 0", "relayed 0", "direct 1", "relayed 1"]
    feed.close()


async def test_a_second_stream_on_the_same_payload_type_is_dropped_until_the_first_falls_silent() -> None:
    """Packets of another SSRC would interleave with the publisher's stream in every viewer's sequence."""
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    publisher = type("Publisher", (), {"drops": seams.DropCounter("test")})()
    feed = Feed("audio", "room/audio")
    feed.attach(publisher, codec, lambda ssrc: None)
    track, port = connected_track("audio")
    track.attach(feed)

    def opus(ssrc: int, sequence_number: int, payload: bytes) -> RtpPacket:
        packet = RtpPacket(payload_type=111, sequence_number=sequence_number, timestamp=0, payload=payload)
        packet.ssrc = ssrc
        return packet

    await feed.on_rtp(publisher, opus(1, 10, b"a"))
    await feed.on_rtp(publisher, opus(2, 500, b"x"))
    await feed.on_rtp(publisher, opus(1, 11, b"a"))
    assert [written[3] for written in port.written] == [b"a", b"a"]
    assert publisher.drops.counts == {"unknown_ssrc": 1}
    # The encoder restarts with a new SSRC once its stream has been silent: the viewer follows it, in step.
    feed._ssrc_at -= 2 * SSRC_SWITCH_SECONDS
    await feed.on_rtp(publisher, opus(2, 9000, b"b"))
    assert [written[3] for written in port.written] == [b"a", b"a", b"b"]
    sequence_numbers = [written[0] for written in port.written]
    assert [(n - sequence_numbers[0]) & 0xFFFF for n in sequence_numbers] == [0, 1, 2]
    feed.close()


async def test_a_repaired_packet_reaches_viewers_in_step_late_and_in_place() -> None:
    """An edge's link lost a packet and the origin sent it again: viewers get it with its own place in their
    stream; a viewer still waiting for a keyframe does not, and the stream goes on from where it was."""
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    link = object()
    feed = Feed("video", "room/video")
    feed.attach(link, codec, lambda ssrc: None)
    track, port = connected_track()
    track.attach(feed)
    await feed.on_rtp(link, vp8(10, 0, key=True))
    await feed.on_rtp(link, vp8(12, 3000))  # 11 was lost on the link
    waiting, waiting_port = connected_track()
    waiting.attach(feed)
    feed._gop.clear()  # no replay: the newcomer waits for a keyframe
    await feed.on_repaired(link, vp8(11, 0, first=False))
    await feed.on_rtp(link, vp8(13, 6000))
    sequence_numbers = [(written[0] - port.written[0][0]) & 0xFFFF for written in port.written]
    assert sequence_numbers == [0, 2, 1, 3]
    assert waiting_port.written == []
    frames = feed.stats.frames
    await feed.on_repaired(object(), vp8(11, 0, first=False))  # not this feed's link: ignored
    assert len(port.written) == 4 and feed.stats.frames == frames
    feed.close()
