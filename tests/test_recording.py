"""Recording without re-encoding (issue 22) through a real server: a room feed, a remote speaker taking the
floor and a French channel, from real aiortc peers; the files opened with PyAV; the bad requests refused."""

from __future__ import annotations

import asyncio
import fractions
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from server.domain.roles import Role
from server.keys import CORE_KEY, HUB_KEY
from server.media_http import MEDIA_KEY
from server.recording.paths import UnsafePath, resolve, segment_path
from server.recording.service import Recordings
from server.recording.writer import SegmentWriter, h264_dimensions, picture_size, sps_dimensions

from .conftest import make_settings, run_app
from .helpers import Running, eventually
from .media_peers import Publisher
from .test_media_signaling import HAND, attendee, publish, staff


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=5.0)):
        yield running


def recordings_of(running: Running) -> Recordings:
    media = running.server.app[MEDIA_KEY]
    found: Recordings = running.server.app[HUB_KEY].recording.recordings
    assert found.media is media
    return found


def media_seconds(writer: SegmentWriter) -> float:
    if writer.started is None or writer.last_written is None:
        return 0.0
    return writer.last_written - writer.started


def tracks_of(recordings: Recordings, session_id: int) -> dict[str, Any]:
    recorder = recordings.recorders.get(session_id)
    return {} if recorder is None else dict(recorder.tracks)


def probe(path: Path) -> dict[str, Any]:
    """Every stream of a file, read with PyAV: its kind, codec, packets and the span of their times."""
    with av.open(str(path)) as container:
        streams: dict[str, Any] = {
            s.type: {"codec": s.codec_context.name, "packets": 0, "first": None, "last": 0.0}
            for s in container.streams
        }
        for packet in container.demux():
            if packet.pts is None:
                continue
            found = streams[packet.stream.type]
            at = float(packet.pts * packet.time_base)
            found["packets"] += 1
            found["first"] = at if found["first"] is None else min(found["first"], at)
            found["last"] = max(found["last"], at)
    with av.open(str(path)) as container:
        streams["decoded_video_frames"] = (
            sum(1 for _ in container.decode(video=0)) if "video" in streams else 0
        )
    return streams


async def test_records_the_floor_through_a_switch_and_the_french_channel(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    av_desk = await staff(hemicycle, Role.AV)
    watcher = await attendee(hemicycle, "Olga")
    room, published = await publish(av_desk, "room")
    assert published["ok"], published
    french, on_air = await publish(av_desk, "channel", channel="fr")
    assert on_air["ok"], on_air
    recordings = recordings_of(hemicycle)
    speaker_publisher = None
    try:
        relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
        assert relay is not None
        await eventually(lambda: relay.feed("room", "video").stats.keyframes >= 1, timeout=15)
        began = time.monotonic()
        started = await moderator.call("recording:start", {})
        assert started["ok"], started
        recording = started["data"]["recording"]
        assert recording["state"] == "recording"
        assert recording["started_by"]
        told = await watcher.wait_for("recording")
        assert told["recording"]["id"] == recording["id"]
        await eventually(lambda: len(tracks_of(recordings, hemicycle.live_session)) == 2)
        recorder = recordings.recorders[hemicycle.live_session]
        floor = recorder.tracks["floor"]
        await eventually(lambda: floor.writer.frames >= 30, timeout=15)

        # A remote speaker takes the floor: the recording follows them, in the same file.
        speaker = await attendee(hemicycle, "Amina")
        entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
        speaker_publisher, spoken = await publish(speaker, "speaker")
        assert spoken["ok"], spoken
        await eventually(lambda: recorder.switches >= 1, timeout=10)
        frames_at_switch = floor.writer.frames
        await eventually(lambda: floor.writer.frames >= frames_at_switch + 30, timeout=15)
        # About five seconds recorded in all, by the file's own clock.
        await eventually(lambda: media_seconds(floor.writer) >= 5.0, timeout=20)
        stopped = await av_desk.call("recording:stop", {})
        assert stopped["ok"], stopped
        assert stopped["data"]["recording"]["state"] == "stopped"
        assert stopped["data"]["recording"]["stopped_by"]
        assert hemicycle.live_session not in recordings.recorders
        ended = time.monotonic()

        segments = await recordings.segments(recording["id"])
        assert sorted(s.track for s in segments) == ["floor", "fr"]
        for segment in segments:
            assert segment.complete and segment.writer == hemicycle.server.app[CORE_KEY].instance_id
            assert segment.path == segment_path(
                hemicycle.live_session, recording["id"], segment.track, segment.id, "webm"
            )
            path = resolve(recordings.root, segment.path)
            assert path.stat().st_size == segment.bytes > 0
            found = probe(path)
            assert segment.ended_at is not None
            span = (segment.ended_at - segment.started_at).total_seconds()
            assert found["audio"]["codec"] == "opus" and found["audio"]["packets"] > 100
            assert abs(found["audio"]["last"] - span) < 1.0, (segment.track, found, span)
            # Recorded from the start (the feeds were live) to the stop, within a second.
            assert abs(span - (ended - began)) < 1.0, (segment.track, span, ended - began)
        floor_segment = next(s for s in segments if s.track == "floor")
        found = probe(resolve(recordings.root, floor_segment.path))
        assert floor_segment.codecs == ("vp8", "opus")
        assert found["video"]["codec"] == "vp8"
        assert found["video"]["first"] < 0.5
        assert found["decoded_video_frames"] >= 60
        # Every picture decodes, before and after the switch: no frame was lost to it.
        assert found["decoded_video_frames"] == found["video"]["packets"]
        fr = next(s for s in segments if s.track == "fr")
        assert fr.codecs == ("opus",)
        assert "video" not in probe(resolve(recordings.root, fr.path))

        audit = await hemicycle.server.app[CORE_KEY].store.audit_log(hemicycle.live_session)
        actions = [(e["action"], e["actor"]["role"]) for e in audit if e["action"].startswith("recording")]
        assert actions == [("recording.stop", "av"), ("recording.start", "moderator")]
    finally:
        if speaker_publisher is not None:
            await speaker_publisher.close()
        await french.close()
        await room.close()


@pytest.fixture
async def on_both(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    """The server on SQLite, then on PostgreSQL (the one-running-recording index on each)."""
    async for running in run_app(make_settings(tmp_path, database_url)):
        yield running


async def test_bad_requests_get_clear_errors_and_change_nothing(on_both: Running) -> None:
    hemicycle = on_both
    moderator = await staff(hemicycle, Role.MODERATOR)
    for role in (Role.CHAIR, Role.INTERPRETER, Role.CAPTIONER, Role.DISPLAY):
        refused = await (await staff(hemicycle, role)).call("recording:start", {})
        assert refused["error"]["code"] == "forbidden", (role, refused)
    someone = await attendee(hemicycle)
    assert (await someone.call("recording:start", {}))["error"]["code"] == "forbidden"
    assert (await someone.call("recording:stop", {}))["error"]["code"] == "forbidden"
    assert (await moderator.call("recording:start", {"now": True}))["error"]["code"] == "invalid_input"
    assert (await moderator.call("recording:stop", {}))["error"]["code"] == "not_recording"
    assert (await moderator.call("recording:get", {}))["data"]["recording"] is None

    # Nothing on air: the recording starts and waits for the first source (documented). Two starts at once
    # (the moderator and the AV desk): one recording, the other gets a clear error.
    av_desk = await staff(hemicycle, Role.AV)
    replies = await asyncio.gather(moderator.call("recording:start", {}), av_desk.call("recording:start", {}))
    assert sorted(r["ok"] for r in replies) == [False, True], replies
    first = next(r for r in replies if r["ok"])
    assert next(r for r in replies if not r["ok"])["error"]["code"] == "already_recording"
    again = await moderator.call("recording:start", {})
    assert again["error"]["code"] == "already_recording"
    current = await someone.call("recording:get", {})
    assert current["data"]["recording"]["id"] == first["data"]["recording"]["id"]
    # A page that joins now learns it in its welcome.
    late = await attendee(hemicycle, "Li")
    assert late.last("welcome")["recording"]["state"] == "recording"
    assert (await moderator.call("recording:stop", {}))["ok"]
    assert (await moderator.call("recording:stop", {}))["error"]["code"] == "not_recording"
    recordings = recordings_of(hemicycle)
    assert await recordings.segments(first["data"]["recording"]["id"]) == []


async def test_a_directory_that_cannot_be_written_starts_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the recordings directory should be")
    async for running in run_app(make_settings(tmp_path, recordings_dir=blocked)):
        moderator = await staff(running, Role.MODERATOR)
        refused = await moderator.call("recording:start", {})
        assert refused["error"]["code"] == "recording_storage", refused
        assert "cannot be written" in refused["error"]["message"]
        assert (await moderator.call("recording:get", {}))["data"]["recording"] is None
        assert blocked.read_text().startswith("a file")


def test_paths_stay_inside_the_recordings_directory(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    assert resolve(root, "3/7/floor-12.webm") == root.resolve() / "3/7/floor-12.webm"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for bad in ("../x.webm", "/etc/passwd", "3/../../x", "", "3//x", "link/x.webm", "a\\b", "./x"):
        with pytest.raises(UnsafePath):
            resolve(root, bad)
    for args in ((1, 1, "../x", 1, "webm"), (1, 1, "floor", 1, "exe"), (0, 1, "fr", 1, "webm")):
        with pytest.raises(UnsafePath):
            segment_path(*args)  # type: ignore[arg-type]


# Matroska (EBML) elements on the way to a track's picture size: Segment, Tracks, TrackEntry, Video.
MATROSKA_PATH = {0x18538067, 0x1654AE6B, 0xAE, 0xE0}
PIXEL_WIDTH, PIXEL_HEIGHT = 0xB0, 0xBA


def _vint(data: bytes, at: int, marker: bool) -> tuple[int, int, int]:
    """An EBML variable-length integer at `at`: its value (an element ID keeps its marker bit), the offset
    after it and its length."""
    length = 9 - data[at].bit_length()
    value = int.from_bytes(data[at : at + length], "big")
    return (value if marker else value & ((1 << (7 * length)) - 1)), at + length, length


def matroska_picture_size(path: Path) -> tuple[int, int]:
    """The picture size a Matroska file's header states (PixelWidth, PixelHeight), read from its bytes:
    PyAV would report the size it finds in the stream itself."""
    data = path.read_bytes()
    found: dict[int, int] = {}

    def walk(start: int, end: int) -> None:
        at = start
        while at < end:
            element, at, _ = _vint(data, at, True)
            size, at, length = _vint(data, at, False)
            if size == (1 << (7 * length)) - 1:  # unknown size: to the end of its parent
                size = end - at
            if element in MATROSKA_PATH:
                walk(at, min(end, at + size))
            elif element in (PIXEL_WIDTH, PIXEL_HEIGHT):
                found[element] = int.from_bytes(data[at : at + size], "big")
            at += size

    walk(0, len(data))
    return found[PIXEL_WIDTH], found[PIXEL_HEIGHT]


def x264_keyframe(width: int, height: int, pixels: str = "yuv420p", **options: str) -> bytes:
    """The first access unit libx264 writes for a picture of this size (Annex B, with its parameter sets)."""
    encoder: Any = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, pixels
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = options
    frame = av.VideoFrame(width, height, pixels)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.pts = 0
    return bytes([*encoder.encode(frame), *encoder.encode(None)][0])


# One-packet VP8 frames as RTP payloads: the descriptor (S bit), then a keyframe's header with its size, or a
# delta frame's tag.
VP8_KEYFRAME = bytes([0x10, 0x50, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + struct.pack("<HH", 320, 240) + bytes(20)
VP8_DELTA = bytes([0x10, 0x51, 0x00, 0x00]) + bytes(20)


def test_each_kind_is_placed_in_the_file_where_its_frames_were_taken(tmp_path: Path) -> None:
    """The first keyframe arrives late (it is big), the sound on time: placed by arrival, the sound would be
    early against the picture, by the keyframe's delay, for the whole file. Both are placed by when they were
    taken, as the relay tells it with each packet."""
    writer = SegmentWriter(tmp_path / "floor.webm", "video/VP8")
    start = 1_800_000_000.0
    # Sound taken 0.2 s after the first picture; each written as it arrives, with when it was taken.
    writer.write("video", 10, 90000, True, VP8_KEYFRAME, start)
    for n in range(1, 30):
        writer.write("video", 10 + n, 90000 + 3000 * n, True, VP8_DELTA, start + n / 30)
    for n in range(40):
        writer.write("audio", 500 + n, 48000 * 7 + 960 * n, False, b"\xf8\xff\xfe", start + 0.2 + n * 0.02)
    writer.close()
    assert writer.started == start and writer.last_written == pytest.approx(start + 0.2 + 39 * 0.02)
    first: dict[str, float] = {}
    with av.open(str(tmp_path / "floor.webm")) as container:
        for packet in container.demux():
            if packet.pts is not None:
                first.setdefault(packet.stream.type, float(packet.pts * packet.time_base))
    assert first["video"] == 0.0 and first["audio"] == pytest.approx(0.2, abs=0.002)


def test_a_file_that_follows_another_on_the_floor_begins_where_that_one_ended(tmp_path: Path) -> None:
    """A speaker in another codec: their first keyframe was taken 0.3 s before the room's last picture went
    out in the file before. The new file begins where that one ended, its sound with its picture."""
    start = 1_800_000_000.0
    writer = SegmentWriter(tmp_path / "floor-2.webm", "video/VP8", not_before=start + 0.3)
    writer.write("video", 1, 0, True, VP8_KEYFRAME, start)
    writer.write("audio", 1, 0, False, b"\xf8\xff\xfe", start + 0.1)
    writer.write("video", 2, 3000, True, VP8_DELTA, start + 1 / 30)
    writer.close()
    assert writer.started == start + 0.3
    assert writer.last_written == pytest.approx(start + 0.3 + 1 / 30)
    with av.open(str(tmp_path / "floor-2.webm")) as container:
        times = sorted(
            (packet.stream.type, float(packet.pts * packet.time_base))
            for packet in container.demux()
            if packet.pts is not None
        )
    assert times == [("audio", 0.0), ("video", 0.0), ("video", pytest.approx(1 / 30, abs=0.001))]


@pytest.mark.parametrize(
    ("width", "height", "pixels", "options"),
    [
        (640, 360, "yuv420p", {}),  # cropped: 368 coded lines
        (1920, 1080, "yuv420p", {}),
        (176, 144, "yuv420p", {"profile": "baseline"}),  # no chroma format in the parameter set
        (322, 242, "yuv420p", {"x264-params": "cqm=jvt"}),  # a scaling matrix to read past
        (642, 362, "yuv422p", {"x264-params": "interlaced=1"}),  # fields: units of two lines
        (640, 360, "yuv444p", {}),
        (320, 180, "gray", {}),  # monochrome: cropped by single lines
    ],
)
def test_the_picture_size_is_read_from_the_sequence_parameter_set(
    width: int, height: int, pixels: str, options: dict[str, str]
) -> None:
    keyframe = x264_keyframe(width, height, pixels, **options)
    assert h264_dimensions(keyframe) == (width, height)
    assert picture_size("video/H264", keyframe) == (width, height)


def test_a_parameter_set_that_cannot_be_read_gives_no_size() -> None:
    keyframe = x264_keyframe(640, 360)
    sps = next(u for u in keyframe.split(b"\x00\x00\x01") if u and u[0] & 0x1F == 7).rstrip(b"\x00")
    assert sps_dimensions(sps[1:]) == (640, 360)
    for cut in (1, 4, 6):
        with pytest.raises(ValueError, match="ends early"):
            sps_dimensions(sps[1:cut])
    with pytest.raises(ValueError, match="longer than 32 bits"):
        sps_dimensions(b"\x42\x00\x1f" + b"\x00" * 8)
    for frame in (b"", b"\x00\x00\x01", b"\x00\x00\x00\x01\x67", keyframe[: keyframe.index(sps) + 5]):
        assert h264_dimensions(frame) is None, frame
    # An access unit with no parameter set (not a keyframe the relay starts a file with): the default size.
    slices = b"\x00\x00\x00\x01\x41\x9a\x02"
    assert h264_dimensions(slices) is None
    assert picture_size("video/H264", slices) == picture_size("video/H264", None) == (1280, 720)


async def test_an_h264_room_feed_is_recorded_into_matroska(hemicycle: Running) -> None:
    """An encoder that sends only H.264 (OBS Studio over WHIP), at 640x360: its packets remuxed into
    Matroska, not decoded; the file plays and its header states the feed's own picture size."""
    moderator = await staff(hemicycle, Role.MODERATOR)
    av_desk = await staff(hemicycle, Role.AV)
    room = Publisher(video_size=(640, 360))
    reply = await av_desk.call(
        "media:publish", {"source": "room", "sdp": await room.offer(video_codec="video/H264")}
    )
    assert reply["ok"], reply
    await room.accept(reply["data"]["sdp"])
    recordings = recordings_of(hemicycle)
    try:
        relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
        assert relay is not None
        await eventually(lambda: relay.feed("room", "video").stats.keyframes >= 1, timeout=15)
        assert relay.feed("room", "video").mime == "video/H264"
        started = await moderator.call("recording:start", {})
        assert started["ok"], started
        await eventually(lambda: "floor" in tracks_of(recordings, hemicycle.live_session))
        floor = recordings.recorders[hemicycle.live_session].tracks["floor"]
        await eventually(lambda: floor.writer.frames >= 60, timeout=20)
        assert (await moderator.call("recording:stop", {}))["ok"]
        (segment,) = await recordings.segments(started["data"]["recording"]["id"])
        assert segment.container == "mkv" and segment.codecs == ("h264", "opus")
        path = resolve(recordings.root, segment.path)
        found = probe(path)
        assert found["video"]["codec"] == "h264" and found["audio"]["codec"] == "opus"
        assert found["decoded_video_frames"] >= 20
        assert matroska_picture_size(path) == (640, 360)
        with av.open(str(path)) as container:
            picture = next(container.decode(video=0))
            assert (picture.width, picture.height) == (640, 360)
    finally:
        await room.close()


async def test_ending_the_session_stops_its_recording(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    watcher = await attendee(hemicycle)
    started = await moderator.call("recording:start", {})
    assert started["ok"], started
    assert (await moderator.call("session:set_state", {"state": "ended"}))["ok"]
    stopped = await watcher.wait_for("recording", lambda d: d["recording"]["state"] == "stopped")
    assert stopped["recording"]["id"] == started["data"]["recording"]["id"]
    assert stopped["recording"]["stopped_by"] is None
    refused = await moderator.call("recording:start", {})
    assert refused["error"]["code"] == "session_ended"
    audit = await hemicycle.server.app[CORE_KEY].store.audit_log(hemicycle.live_session)
    ended = next(e for e in audit if e["action"] == "recording.stop")
    assert ended["actor"]["role"] == "system" and ended["details"]["reason"] == "session_ended"


async def test_a_speaker_in_another_codec_begins_a_new_floor_segment(hemicycle: Running) -> None:
    """The room in VP8, then a speaker whose browser sends H.264: the floor goes on in a Matroska file of
    its own, both files play, one after the other on the wall clock."""
    moderator = await staff(hemicycle, Role.MODERATOR)
    av_desk = await staff(hemicycle, Role.AV)
    room, published = await publish(av_desk, "room")
    assert published["ok"], published
    speaker_publisher = Publisher()
    recordings = recordings_of(hemicycle)
    try:
        started = await moderator.call("recording:start", {})
        assert started["ok"], started
        await eventually(lambda: "floor" in tracks_of(recordings, hemicycle.live_session), timeout=10)
        first = recordings.recorders[hemicycle.live_session].tracks["floor"]
        await eventually(lambda: first.writer.frames >= 40, timeout=15)
        speaker = await attendee(hemicycle, "Amina")
        entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
        assert (await moderator.call("floor:grant", {"entry_id": entry["id"]}))["ok"]
        offer = await speaker_publisher.offer(video_codec="video/H264")
        spoken = await speaker.call("media:publish", {"source": "speaker", "sdp": offer})
        assert spoken["ok"], spoken
        await speaker_publisher.accept(spoken["data"]["sdp"])

        def second() -> Any:
            track = tracks_of(recordings, hemicycle.live_session).get("floor")
            return (
                track
                if track is not None and track is not first and media_seconds(track.writer) >= 2
                else None
            )

        await eventually(second, timeout=20)
        assert (await moderator.call("recording:stop", {}))["ok"]
        segments = await recordings.segments(started["data"]["recording"]["id"])
        assert [(s.track, s.container) for s in segments] == [("floor", "webm"), ("floor", "mkv")]
        assert all(s.complete for s in segments)
        assert segments[0].ended_at is not None and segments[0].ended_at <= segments[1].started_at
        for segment, codec in zip(segments, ("vp8", "h264"), strict=True):
            found = probe(resolve(recordings.root, segment.path))
            assert found["video"]["codec"] == codec and found["decoded_video_frames"] >= 20, found
    finally:
        await speaker_publisher.close()
        await room.close()
