"""From a real recording to the archive, end to end (issue 22's own test): a real server, an aiortc room feed
(VP8 and Opus), two remote speakers given the floor in turn through the real queue, a French channel on air,
captions posted and a question read aloud; the recording started and stopped over Socket.IO. Then the
archive API: every file the recorder wrote is listed and plays in PyAV with every stream for its duration,
the chapters match the intervention record, the WebVTT captions match the transcript; and the archive page
in Chromium plays it and a chapter link seeks to the chapter's time."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role
from server.keys import ARCHIVE_KEY
from server.media_http import MEDIA_KEY

from .browser import open_page, real_errors
from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually
from .test_media_signaling import HAND, attendee, publish, staff
from .test_recording import media_seconds, recordings_of, tracks_of

# How long each speaker holds the floor, by the floor file's own clock.
SPEAKING_SECONDS = 2.5
CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> ")


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=5.0)):
        yield running


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def vtt_cues(text: str) -> list[tuple[float, str]]:
    """(start, text) of each cue of a WebVTT file."""
    lines = text.splitlines()
    assert lines[0] == "WEBVTT"
    found = []
    for index, line in enumerate(lines):
        match = CUE.match(line)
        if match:
            h, m, s, ms = (int(g) for g in match.groups())
            found.append((h * 3600 + m * 60 + s + ms / 1000, lines[index + 1]))
    return found


def probe(path: Path) -> dict[str, Any]:
    """The file's duration and, per stream kind, its codec and the time of its last packet."""
    with av.open(str(path)) as container:
        streams: dict[str, Any] = {
            s.type: {"codec": s.codec_context.name, "last": 0.0} for s in container.streams
        }
        packets = 0
        for packet in container.demux():
            if packet.pts is None:
                continue
            packets += 1
            found = streams[packet.stream.type]
            found["last"] = max(found["last"], float(packet.pts * packet.time_base))
        duration = None if container.duration is None else container.duration / av.time_base
    return {"streams": streams, "packets": packets, "duration": duration}


async def speak(
    running: Running, moderator: Client, name: str, floor_writer: Any, recorder: Any
) -> tuple[float, float]:
    """`name` raises a hand, is given the floor, publishes and speaks SPEAKING_SECONDS; the floor ends.
    Returns when the grant and the end were asked (wall clock)."""
    speaker = await attendee(running, name)
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
    switches = recorder.switches
    granted = time.time()
    assert (await moderator.call("floor:grant", {"entry_id": entry["id"], "limit_seconds": 120}))["ok"]
    publisher, spoken = await publish(speaker, "speaker")
    try:
        assert spoken["ok"], spoken
        await eventually(lambda: recorder.switches > switches, timeout=10)
        at_switch = media_seconds(floor_writer)
        await eventually(lambda: media_seconds(floor_writer) >= at_switch + SPEAKING_SECONDS, timeout=15)
        ended = time.time()
        assert (await moderator.call("floor:end", {"entry_id": entry["id"]}))["ok"]
    finally:
        await publisher.close()
    return granted, ended


async def test_a_recorded_session_reaches_the_archive(
    hemicycle: Running, browser: Browser, tmp_path: Path
) -> None:
    sid = hemicycle.live_session
    moderator = await staff(hemicycle, Role.MODERATOR)
    av_desk = await staff(hemicycle, Role.AV)
    chair = await staff(hemicycle, Role.CHAIR)
    captioner = await staff(hemicycle, Role.CAPTIONER)
    room, published = await publish(av_desk, "room")
    assert published["ok"], published
    french, on_air = await publish(av_desk, "channel", channel="fr")
    assert on_air["ok"], on_air
    recordings = recordings_of(hemicycle)
    try:
        relay = hemicycle.server.app[MEDIA_KEY].relay(sid)
        assert relay is not None
        await eventually(lambda: relay.feed("room", "video").stats.keyframes >= 1, timeout=15)
        began = time.time()
        started = await moderator.call("recording:start", {})
        assert started["ok"], started
        recording_id = started["data"]["recording"]["id"]
        await eventually(lambda: len(tracks_of(recordings, sid)) == 2, timeout=10)
        recorder = recordings.recorders[sid]
        floor = recorder.tracks["floor"]
        await eventually(lambda: media_seconds(floor.writer) >= 1.0, timeout=15)
        assert (await captioner.call("caption:post", {"language": "floor", "text": "The session is open."}))[
            "ok"
        ]

        spoken = [await speak(hemicycle, moderator, "Amina Diallo", floor.writer, recorder)]
        assert (await captioner.call("caption:post", {"language": "fr", "text": "Merci, Madame."}))["ok"]
        spoken.append(await speak(hemicycle, moderator, "Bruno Keller", floor.writer, recorder))

        asker = await attendee(hemicycle, "Li Wei")
        asked = await asker.call("question:post", {"text": "How will the action lines be measured?"})
        qid = asked["data"]["question"]["id"]
        assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
        assert (await moderator.call("question:relay", {"question_id": qid, "stage": "forwarded"}))["ok"]
        assert (await chair.call("question:relay", {"question_id": qid, "stage": "read"}))["ok"]
        at_read = media_seconds(floor.writer)
        assert (await captioner.call("caption:post", {"language": "floor", "text": "Thank you, Chair."}))[
            "ok"
        ]
        await eventually(lambda: media_seconds(floor.writer) >= at_read + 1.5, timeout=10)
        assert (await chair.call("question:relay", {"question_id": qid, "stage": "answered"}))["ok"]
        stopped = await av_desk.call("recording:stop", {})
        ended = time.time()
        assert stopped["ok"], stopped
    finally:
        await french.close()
        await room.close()

    # -- the archive API ------------------------------------------------------------------------------------
    token = await hemicycle.staff_token(Role.MODERATOR)
    written = await recordings.segments(recording_id)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(f"{hemicycle.url}/api/sessions/{sid}/archive") as response:
            assert response.status == 200, await response.text()
            listing = await response.json()
        (archived,) = listing["recordings"]
        assert archived["id"] == recording_id and archived["state"] == "stopped"
        assert abs(archived["duration_seconds"] - (ended - began)) < 1.0, (archived, ended - began)
        listed = {item["id"]: item for items in archived["tracks"].values() for item in items}
        # Every file the recorder wrote is listed, under its track.
        assert sorted(listed) == sorted(s.id for s in written)
        assert sorted(archived["tracks"]) == ["floor", "fr"]
        key = listing["media_key"]
        base = f"{hemicycle.url}/api/sessions/{sid}/recordings/{recording_id}"
        for segment in written:
            item = listed[segment.id]
            assert item["track"] == segment.track and item["complete"] and item["bytes"] == segment.bytes
            async with (
                aiohttp.ClientSession() as plain,
                plain.get(f"{base}/segments/{segment.id}?key={key}") as response,
            ):
                assert response.status == 200
                path = tmp_path / f"{segment.track}-{segment.id}.{segment.container}"
                path.write_bytes(await response.read())
            found = probe(path)
            kinds = {"floor": {"video": "vp8", "audio": "opus"}, "fr": {"audio": "opus"}}[segment.track]
            assert {k: v["codec"] for k, v in found["streams"].items()} == kinds, found
            # Each file plays for as long as it is listed, every stream to its end, within a second.
            assert found["duration"] is not None and abs(found["duration"] - item["duration"]) < 1.0, found
            for stream in found["streams"].values():
                assert abs(stream["last"] - item["duration"]) < 1.0, (segment.track, found, item)
            # The files cover the recording, from its start to its stop, within a second.
            assert item["offset"] < 1.0 and abs(item["offset"] + item["duration"] - (ended - began)) < 1.0

        # The chapters: the two interventions, then the question, as the intervention record has them.
        async with http.get(f"{hemicycle.url}/api/sessions/{sid}/report") as response:
            assert response.status == 200
            record = (await response.json())["interventions"]
        async with http.get(f"{base}/chapters?format=json") as response:
            assert response.status == 200
            chapters = (await response.json())["chapters"]
        assert [(c["kind"], c.get("speaker")) for c in chapters] == [
            ("intervention", "Amina Diallo"),
            ("intervention", "Bruno Keller"),
            ("question", None),
        ]
        assert [r["speaker"] for r in record] == ["Amina Diallo", "Bruno Keller"]
        for chapter, row, (granted, finished) in zip(chapters, record, spoken, strict=False):
            assert chapter["intervention_id"] == row["id"]
            assert abs(chapter["duration_seconds"] - row["duration_seconds"]) < 1.0, (chapter, row)
            assert abs(chapter["start"] - (granted - began)) < 1.0, (chapter, granted - began)
            assert abs(chapter["end"] - (finished - began)) < 1.0, (chapter, finished - began)
        assert chapters[2]["text"] == "How will the action lines be measured?" and chapters[2]["answered"]
        assert chapters[0]["end"] <= chapters[1]["start"] <= chapters[1]["end"] <= chapters[2]["start"]

        # The captions: each language's WebVTT holds the transcript's lines at their times.
        transcript = await hemicycle.server.app[ARCHIVE_KEY].captions.transcript(sid)
        origin = archived["started_at"]
        assert {line.language for line in transcript} == {"floor", "fr"}
        for language in ("floor", "fr"):
            async with http.get(f"{base}/captions?language={language}") as response:
                assert response.status == 200
                cues = vtt_cues(await response.text())
            lines = [line for line in transcript if line.language == language]
            assert [text for _, text in cues] == [line.text for line in lines]
            for (start, _), line in zip(cues, lines, strict=True):
                expected = (line.at - parse_iso(origin)).total_seconds()
                assert abs(start - expected) < 0.01, (start, expected)

    # -- the archive page in Chromium -----------------------------------------------------------------------
    errors: list[str] = []
    (floor_item,) = archived["tracks"]["floor"]
    page = await open_page(browser, f"{hemicycle.url}/s/{sid}/archive#token={token}", errors)
    await expect(page.get_by_test_id("chapter")).to_have_count(3)
    await expect(page.get_by_test_id("chapter").nth(1)).to_contain_text("Bruno Keller")
    await page.evaluate(
        """() => {
            const video = document.getElementById('player');
            window.seeks = [];
            const note = () => window.seeks.push([video.dataset.segment, video.currentTime]);
            video.addEventListener('seeked', note);
        }"""
    )
    target = chapters[1]["start"] - floor_item["offset"]
    await page.get_by_test_id("chapter").nth(1).get_by_test_id("chapter-play").click()
    seeks: list[Any] = []
    for _ in range(200):
        seeks = await page.evaluate("window.seeks")
        if any(seg == str(floor_item["id"]) and abs(at - target) < 0.1 for seg, at in seeks):
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"no seek to {target} s in segment {floor_item['id']}: {seeks}")
    assert page.url.endswith(f"/s/{sid}/archive?chapter=c2")
    # It plays on from there: the recorded picture decodes in Chromium.
    for _ in range(200):
        playing = await page.evaluate("document.getElementById('player').currentTime")
        if playing > target + 0.5:
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the recording does not play on from {target} s: {playing}")
    assert not real_errors(errors), "\n".join(errors)
