"""The session archive (issue 22, items 3 and 4) over a real server: a session run through the real queue,
questions and captions, recorded as the recorder writes (real WebM files, rows as it stores them); its
chapters, captions, files with Range requests, access per session, the command line, retention and directory
storage."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from server.archive import Archive
from server.db import models as m
from server.domain.archive import RangeNotSatisfiable, byte_range, chapters
from server.domain.errors import InvalidInput
from server.domain.roles import Role
from server.keys import ARCHIVE_KEY, HUB_KEY
from server.recording.paths import recordings_dir
from server.settings import Settings, SettingsError

from .archive_files import add_recording, add_segment
from .conftest import make_settings, run_app
from .helpers import Running, mint

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
HAND = {"type": "statement", "language": "en"}


class FrozenClock:
    """The server's clock, moved by the test: every time in the record is exact."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@dataclass
class Recorded:
    running: Running
    clock: FrozenClock
    recording: int
    floor: list[int]
    french: int
    attendee: str
    question: int


async def run_session(running: Running, clock: FrozenClock) -> tuple[str, int]:
    """Two interventions and a question read aloud, captioned, at known times (seconds from START):
    a caption before the recording (0), the recording from 2 to 10; Amina speaks 3-5, the in-room delegate
    5-8 (a right of reply in Spanish); the question is read at 8 and answered at 9."""
    moderator = await running.join(await running.staff_token(Role.MODERATOR))
    chair = await running.join(await running.staff_token(Role.CHAIR))
    amina = await running.register(stakeholder_group="civil_society")
    speaker = await running.join(amina["token"])
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]["id"]
    added = await moderator.call(
        "queue:add_in_room",
        {
            "display_name": "H.E. Ms. Rosa Álvarez",
            "affiliation": "Permanent Mission of Chile",
            "stakeholder_group": "government",
            "country": "CL",
            "type": "right_of_reply",
            "language": "es",
        },
    )
    in_room = added["data"]["entry"]["id"]
    captioner, _ = await running.core.authenticate(await running.staff_token(Role.CAPTIONER))
    captions = running.server.app[HUB_KEY].captions.captions
    await captions.post(captioner, running.live_session, "floor", "Before the recording.")
    clock.advance(3)
    assert (await moderator.call("floor:grant", {"entry_id": entry, "limit_seconds": 120}))["ok"]
    await captions.post(captioner, running.live_session, "floor", "The session is open.")
    clock.advance(2)
    assert (await moderator.call("floor:end", {"entry_id": entry}))["ok"]
    assert (await moderator.call("floor:grant", {"entry_id": in_room, "limit_seconds": 120}))["ok"]
    await captions.post(captioner, running.live_session, "fr", "La séance est ouverte & <publique>.")
    clock.advance(2)
    await captions.post(captioner, running.live_session, "floor", "Thank you, Chair.")
    clock.advance(1)
    assert (await moderator.call("floor:end", {"entry_id": in_room}))["ok"]
    asked = await speaker.call("question:post", {"text": "How will the action lines be measured?"})
    qid = asked["data"]["question"]["id"]
    assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    assert (await moderator.call("question:relay", {"question_id": qid, "stage": "forwarded"}))["ok"]
    assert (await chair.call("question:relay", {"question_id": qid, "stage": "read"}))["ok"]
    clock.advance(1)
    assert (await chair.call("question:relay", {"question_id": qid, "stage": "answered"}))["ok"]
    clock.advance(1)
    return amina["token"], qid


async def record(running: Running) -> tuple[int, list[int], int]:
    """The recording, 2 to 10 s: the floor in two segments (a relay moved to another process at 6 s) and the
    French channel in one."""
    core, sid = running.core, running.live_session
    files = recordings_dir(core.settings)
    rec = await add_recording(core, sid, at(2), at(10))
    floor = [
        await add_segment(core, files, sid, rec, "floor", at(2), at(6), writer="process-a"),
        await add_segment(core, files, sid, rec, "floor", at(6), at(10), writer="process-b"),
    ]
    french = await add_segment(core, files, sid, rec, "fr", at(2), at(10))
    return rec, floor, french


@pytest.fixture
async def recorded(tmp_path: Path) -> AsyncIterator[Recorded]:
    clock = FrozenClock()
    settings = make_settings(tmp_path, floor_grace_seconds=86400)
    async for running in run_app(settings, clock=clock):
        attendee, question = await run_session(running, clock)
        rec, floor, french = await record(running)
        yield Recorded(running, clock, rec, floor, french, attendee, question)


async def get(
    url: str, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=sent) as response:
        return response.status, dict(response.headers), await response.read()


async def post(url: str, token: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, await response.json()


# -- rules ---------------------------------------------------------------------------------------------------


def test_byte_ranges() -> None:
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=50-500", 100) == (50, 99), "a range past the end stops at the end"
    assert byte_range("bytes=0-1,5-6", 100) is None, "several ranges: the whole file"
    assert byte_range("items=0-1", 100) is None
    for header in ("bytes=100-", "bytes=100-200", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            byte_range(header, 100)


def test_chapters_keep_to_the_recording() -> None:
    rows = [
        {
            "id": 1,
            "speaker": "Before",
            "granted_at": "2026-11-28T08:59:00Z",
            "ended_at": "2026-11-28T08:59:30Z",
        },
        {
            "id": 2,
            "speaker": "Across",
            "granted_at": "2026-11-28T08:59:50Z",
            "ended_at": "2026-11-28T09:00:05Z",
        },
        {"id": 3, "speaker": "Still", "granted_at": "2026-11-28T09:00:08Z", "ended_at": None},
    ]
    read = [{"id": 9, "text": "Q?", "read_at": "2026-11-28T09:00:06Z", "answered_at": None}]
    found = chapters(rows, read, START, at(20))
    assert [(c.title, c.start, c.end) for c in found] == [
        ("Across", 0.0, 5.0),  # begun before the recording: from its start
        ("Q?", 6.0, 8.0),  # not answered: until the next chapter
        ("Still", 8.0, 20.0),  # still speaking when the recording stopped
    ]


def test_retention_and_storage_settings() -> None:
    assert Settings.from_env({"HEMICYCLE_ARCHIVE_RETENTION_DAYS": "30"}).archive_retention_days == 30
    for bad in ("-1", "thirty", "1.5"):
        with pytest.raises(SettingsError, match="HEMICYCLE_ARCHIVE_RETENTION_DAYS"):
            Settings.from_env({"HEMICYCLE_ARCHIVE_RETENTION_DAYS": bad})
    secret = "x" * 40
    with pytest.raises(SettingsError, match="HEMICYCLE_ARCHIVE_RETENTION_DAYS"):
        Settings(secret=secret, archive_retention_days=100_000).resolved()
    for bad in ("relative/dir", "s3://", "ftp://host/x", "s3://bucket/../up"):
        with pytest.raises(SettingsError, match="HEMICYCLE_ARCHIVE_STORAGE"):
            Settings(secret=secret, archive_storage=bad).resolved()
    with pytest.raises(SettingsError, match="HEMICYCLE_ARCHIVE_ACCESS_KEY_ID"):
        Settings(secret=secret, archive_storage="s3://b", s3_access_key_id="k").resolved()


# -- the archive over HTTP -----------------------------------------------------------------------------------


async def test_chapters_and_captions_follow_the_record(recorded: Recorded) -> None:
    running = recorded.running
    sid = running.live_session
    moderator = await running.staff_token(Role.MODERATOR)
    status, _, body = await get(f"{running.url}/api/sessions/{sid}/archive", moderator)
    assert status == 200, body
    listing = json.loads(body)
    assert listing["access"] == "staff"
    [rec] = listing["recordings"]
    assert rec["id"] == recorded.recording and rec["duration_seconds"] == 8.0
    # The segments on one timeline by their wall-clock times: the second floor segment begins at 4 s.
    floor = rec["tracks"]["floor"]
    assert [(s["id"], s["offset"], s["duration"]) for s in floor] == [
        (recorded.floor[0], 0.0, 4.0),
        (recorded.floor[1], 4.0, 4.0),
    ]
    assert [(s["id"], s["offset"], s["duration"]) for s in rec["tracks"]["fr"]] == [
        (recorded.french, 0.0, 8.0)
    ]
    assert list(rec["tracks"]) == ["floor", "fr"]
    assert rec["captions"] == ["floor", "fr"]

    # One chapter per intervention, from the intervention record, and one for the question read aloud.
    status, _, body = await get(f"{running.url}/api/sessions/{sid}/report", moderator)
    record = json.loads(body)
    interventions = record["interventions"]
    assert [i["speaker"] for i in interventions] == ["Amina Diallo", "H.E. Ms. Rosa Álvarez"]
    found = rec["chapters"]
    assert [(c["id"], c["kind"], c["start"], c["end"]) for c in found] == [
        ("c1", "intervention", 1.0, 3.0),
        ("c2", "intervention", 3.0, 6.0),
        ("c3", "question", 6.0, 7.0),
    ]
    for chapter, intervention in zip(found, interventions, strict=False):
        for key in ("speaker", "affiliation", "stakeholder_group", "type", "language"):
            assert chapter[key] == intervention[key], key
        assert chapter["duration_seconds"] == intervention["duration_seconds"]
        start = datetime.fromisoformat(intervention["granted_at"].replace("Z", "+00:00"))
        assert chapter["start"] == (start - at(2)).total_seconds()
    assert found[1]["type"] == "right_of_reply" and found[1]["language"] == "es"
    assert found[1]["affiliation"] == "Permanent Mission of Chile"
    assert found[2]["question_id"] == recorded.question and found[2]["answered"] is True

    base = f"{running.url}/api/sessions/{sid}/recordings/{recorded.recording}"
    status, headers, body = await get(f"{base}/chapters?format=vtt", moderator)
    assert status == 200 and headers["Content-Type"].startswith("text/vtt")
    assert body.decode().strip().split("\n\n")[2:] == [
        "c1\n00:00:01.000 --> 00:00:03.000\nAmina Diallo (Ministry of Communication)",
        "c2\n00:00:03.000 --> 00:00:06.000\nH.E. Ms. Rosa Álvarez (Permanent Mission of Chile)",
        "c3\n00:00:06.000 --> 00:00:07.000\nHow will the action lines be measured?",
    ]
    status, headers, body = await get(f"{base}/chapters?format=json&download=1", moderator)
    assert headers["Content-Disposition"].startswith("attachment;")
    assert json.loads(body)["chapters"] == found

    # The captions as WebVTT per language, timed from the recording's start; what came before is left out.
    transcript = [line for line in record["transcript"]["lines"] if line["text"] != "Before the recording."]
    for language in ("floor", "fr"):
        status, _, body = await get(f"{base}/captions?language={language}", moderator)
        assert status == 200
        cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> \S+\n(.+)", body.decode())
        expected = [
            (f"00:00:{(parse(line['at']) - at(2)).seconds:02d}.000", line)
            for line in transcript
            if line["language"] == language
        ]
        assert [cue[0] for cue in cues] == [when for when, _ in expected]
        texts = [cue[1].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") for cue in cues]
        assert texts == [line["text"] for _, line in expected]
    assert (
        "Before the recording." not in (await get(f"{base}/captions?language=floor", moderator))[2].decode()
    )
    assert cues == [("00:00:03.000", "La séance est ouverte &amp; &lt;publique&gt;.")]
    status, _, body = await get(f"{base}/captions?language=xx", moderator)
    assert status == 422 and json.loads(body)["error"]["details"] == {"field": "language"}
    status, _, body = await get(f"{base}/captions", moderator)
    assert status == 422
    status, _, body = await get(f"{base}/chapters?format=pdf", moderator)
    assert status == 422 and json.loads(body)["error"]["details"] == {"field": "format"}


async def test_files_with_ranges_and_media_keys(recorded: Recorded) -> None:
    running = recorded.running
    sid = running.live_session
    moderator = await running.staff_token(Role.MODERATOR)
    files = recordings_dir(running.core.settings)
    listing = json.loads((await get(f"{running.url}/api/sessions/{sid}/archive", moderator))[2])
    key = listing["media_key"]
    segment = recorded.floor[1]
    original = (files / f"{sid}/{recorded.recording}/floor-{segment}.webm").read_bytes()
    url = f"{running.url}/api/sessions/{sid}/recordings/{recorded.recording}/segments/{segment}"

    status, headers, body = await get(url, moderator)
    assert status == 200 and body == original
    assert headers["Content-Type"] == "video/webm" and headers["Accept-Ranges"] == "bytes"
    # The whole file plays: PyAV reads both streams for the segment's four seconds.
    with av.open(str(files / f"{sid}/{recorded.recording}/floor-{segment}.webm")) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.duration is not None and abs(container.duration / 1e6 - 4.0) < 0.5

    status, headers, body = await get(url, moderator, {"Range": "bytes=100-199"})
    assert status == 206 and body == original[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(original)}"
    status, headers, body = await get(f"{url}?key={key}", None, {"Range": "bytes=-50"})
    assert status == 206 and body == original[-50:], "a media element's request, with the media key"
    status, headers, body = await get(url, moderator, {"Range": f"bytes={len(original)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(original)}"
    assert json.loads(body)["error"]["code"] == "range_not_satisfiable"

    # Unknown things, and no credential or a wrong one.
    base = f"{running.url}/api/sessions/{sid}/recordings"
    for path, code in (
        (f"{base}/999/segments/{segment}", "unknown_recording"),
        (f"{base}/{recorded.recording}/segments/999", "unknown_segment"),
        (f"{base}/{recorded.recording}/segments/abc", "not_found"),
        (
            f"{running.url}/api/sessions/999/recordings/{recorded.recording}/segments/{segment}",
            "unknown_session",
        ),
    ):
        status, _, body = await get(path, moderator)
        assert (status, json.loads(body)["error"]["code"]) == (404, code), path
    status, _, body = await get(url)
    assert status == 401 and json.loads(body)["error"]["code"] == "token_missing"
    other = running.scheduled_session
    status, _, body = await get(
        f"{running.url}/api/sessions/{other}/recordings/{recorded.recording}/segments/{segment}?key={key}"
    )
    assert status == 401, "a media key opens its own session's archive only"
    status, _, body = await get(f"{url}?key={moderator}")
    assert status == 401, "a participant's token is not a media key"


async def test_access_per_session(recorded: Recorded) -> None:
    running = recorded.running
    sid = running.live_session
    url = f"{running.url}/api/sessions/{sid}/archive"
    admin = await running.staff_token(Role.ADMIN)
    display = await running.staff_token(Role.DISPLAY)
    moderator = await running.staff_token(Role.MODERATOR)
    interpreter = await running.staff_token(Role.INTERPRETER)

    # Staff-only, the default: staff open it, an attendee and the room display are refused.
    for token in (admin, moderator, interpreter):
        assert (await get(url, token))[0] == 200
    for token in (recorded.attendee, display):
        status, _, body = await get(url, token)
        assert status == 403 and json.loads(body)["error"]["code"] == "archive_staff_only"
    segment = f"{running.url}/api/sessions/{sid}/recordings/{recorded.recording}/segments/{recorded.floor[0]}"
    assert (await get(segment, recorded.attendee))[0] == 403
    assert (await get(f"{running.url}/api/sessions/999/archive", admin))[0] == 404

    # Only the administrator sets it; a bad value changes nothing.
    access = f"{url}/access"
    status, body = await post(access, moderator, {"access": "public"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    for bad in ("everyone", None, 1):
        status, body = await post(access, admin, {"access": bad})
        assert status == 422 and body["error"]["details"] == {"field": "access"}
    assert json.loads((await get(url, admin))[2])["access"] == "staff"
    status, body = await post(f"{running.url}/api/sessions/999/archive/access", admin, {"access": "public"})
    assert status == 404

    status, body = await post(access, admin, {"access": "public"})
    assert status == 200 and body == {"session_id": sid, "access": "public", "previous": "staff"}
    status, _, body = await get(url, recorded.attendee)
    assert status == 200 and json.loads(body)["access"] == "public"
    public_key = json.loads(body)["media_key"]
    staff_key = json.loads((await get(url, moderator))[2])["media_key"]
    status, _, body = await get(segment, recorded.attendee, {"Range": "bytes=0-3"})
    assert status == 206 and body == b"\x1a\x45\xdf\xa3", "a WebM (EBML) file"
    keyed = [
        f"{segment}?key={public_key}",
        f"{running.url}/api/sessions/{sid}/recordings/{recorded.recording}/chapters?key={public_key}",
        f"{running.url}/api/sessions/{sid}/recordings/{recorded.recording}/captions?language=floor&key={public_key}",
    ]
    for media in keyed:
        assert (await get(media, None, {"Range": "bytes=0-3"}))[0] in (200, 206), media
    entries = await running.core.store.audit_log(sid)
    assert [(e["action"], e["details"]) for e in entries if e["action"].startswith("archive.")] == [
        ("archive.set_access", {"from": "staff", "to": "public"})
    ]
    # A public archive is no way round a removal: someone removed from the session is refused as at its
    # gate (a ban withdraws the link itself: 401).
    other = await running.register(display_name="Disruptive")
    status, _, body = await get(url, other["token"])
    assert status == 200
    other_segment = f"{segment}?key={json.loads(body)['media_key']}"
    assert (await get(other_segment, None, {"Range": "bytes=0-3"}))[0] == 206
    moderator_client = await running.join(moderator)
    removed = await moderator_client.call(
        "participant:remove", {"participant_id": other["participant"]["id"], "reason": "spam"}
    )
    assert removed["ok"], removed
    status, _, body = await get(url, other["token"])
    assert status == 403 and json.loads(body)["error"]["code"] == "not_admitted", body
    # ... and so is the media key they were handed before, while the archive stays public.
    status, headers, body = await get(other_segment, None, {"Range": "bytes=0-3"})
    assert status == 403 and headers["Content-Type"].startswith("application/json"), body
    assert json.loads(body)["error"]["code"] == "not_admitted"
    assert (await get(keyed[0], None, {"Range": "bytes=0-3"}))[0] == 206, "other keys go on working"
    # Back to staff-only: the attendee is refused again, and so is the media key they were handed while it
    # was public (a staff member's key goes on working).
    assert (await post(access, admin, {"access": "staff"}))[0] == 200
    assert (await get(url, recorded.attendee))[0] == 403
    for media in keyed:
        status, headers, body = await get(media, None, {"Range": "bytes=0-3"})
        assert status == 403 and headers["Content-Type"].startswith("application/json"), media
        assert json.loads(body)["error"]["code"] == "archive_staff_only"
    status, _, body = await get(f"{segment}?key={staff_key}", None, {"Range": "bytes=0-3"})
    assert status == 206 and body == b"\x1a\x45\xdf\xa3"
    # Public again: the same key works again (it was refused, not revoked).
    assert (await post(access, admin, {"access": "public"}))[0] == 200
    assert (await get(keyed[0], None, {"Range": "bytes=0-3"}))[0] == 206


async def test_a_path_outside_the_recordings_directory_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    running = recorded.running
    core, sid = running.core, running.live_session
    files = recordings_dir(core.settings)
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("not for the archive")
    rec = await add_recording(core, sid, at(20), at(30))
    escaping = await add_segment(core, files, sid, rec, "floor", at(20), at(30), path="../../etc/passwd")
    absolute = await add_segment(core, files, sid, rec, "floor", at(20), at(30), path=str(secret))
    # A link inside the directory that points outside it.
    (files / "link").symlink_to(secret)
    linked = await add_segment(core, files, sid, rec, "floor", at(20), at(30), path="link")
    moderator = await running.staff_token(Role.MODERATOR)
    for segment in (escaping, absolute, linked):
        url = f"{running.url}/api/sessions/{sid}/recordings/{rec}/segments/{segment}"
        status, _, body = await get(url, moderator)
        assert status == 403 and json.loads(body)["error"]["code"] == "path_outside", body
        assert b"not for the archive" not in body


async def test_command_line_archive(recorded: Recorded, tmp_path: Path) -> None:
    running = recorded.running
    settings = running.core.settings
    env = {
        "DATABASE_URL": settings.database_url,
        "HEMICYCLE_SECRET": settings.secret,
        "HEMICYCLE_DATA_DIR": str(settings.data_dir),
        "PATH": "",
    }

    async def hemicycle(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "archive",
            *args,
            env={**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, err.decode()

    out = tmp_path / "out"
    code, err = await hemicycle(str(running.live_session), "--out", str(out))
    assert code == 0, err
    assert "100%" in err and "wrote 8 files" in err, err  # the progress bar reached the end
    folder = out / f"recording-{recorded.recording}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "chapters.json",
            "chapters.vtt",
            "captions-floor.vtt",
            "captions-fr.vtt",
            "manifest.json",
            f"floor-{recorded.floor[0]}.webm",
            f"floor-{recorded.floor[1]}.webm",
            f"fr-{recorded.french}.webm",
        ]
    )
    files = recordings_dir(settings)
    sid = running.live_session
    for segment, track in ((recorded.floor[0], "floor"), (recorded.french, "fr")):
        written = (folder / f"{track}-{segment}.webm").read_bytes()
        assert written == (files / f"{sid}/{recorded.recording}/{track}-{segment}.webm").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [(s["track"], s["offset"]) for s in manifest["segments"]] == [
        ("floor", 0.0),
        ("fr", 0.0),
        ("floor", 4.0),
    ]
    chapters_file = json.loads((folder / "chapters.json").read_text())
    assert [c["start"] for c in chapters_file["chapters"]] == [1.0, 3.0, 6.0]
    assert "00:00:01.000 --> " in (folder / "captions-floor.vtt").read_text()

    # Bad input: an unknown session, a file where the folder should be, a session with no recording.
    code, err = await hemicycle("999", "--out", str(out))
    assert code == 1 and "no session 999" in err
    (tmp_path / "file").write_text("x")
    code, err = await hemicycle(str(sid), "--out", str(tmp_path / "file"))
    assert code == 1 and "it is a file" in err
    code, err = await hemicycle(str(running.scheduled_session), "--out", str(tmp_path / "empty"))
    assert code == 1 and "has no recording" in err


async def test_expired_recordings_are_removed_and_audited(tmp_path: Path, database_url: str) -> None:
    """On SQLite and PostgreSQL: the archive's own writes (retention, access) in both databases."""
    clock = FrozenClock()
    settings = make_settings(tmp_path, database_url, archive_retention_days=2)
    async for running in run_app(settings, clock=clock):
        core, sid = running.core, running.live_session
        files = recordings_dir(core.settings)
        old = await add_recording(core, sid, at(0), at(10))
        old_segment = await add_segment(core, files, sid, old, "floor", at(0), at(2))
        clock.advance(86400)
        recent = await add_recording(core, sid, clock.now, clock.now + timedelta(seconds=2))
        await add_segment(core, files, sid, recent, "fr", clock.now, clock.now + timedelta(seconds=2))
        archive: Archive = running.server.app[ARCHIVE_KEY]
        assert await archive.expire() == 0, "a day old, kept for two"
        clock.advance(86400 + 10)  # two days since it stopped
        assert await archive.expire() == 1
        assert not (files / f"{sid}/{old}/floor-{old_segment}.webm").exists()
        assert [r.id for r in await archive.rows.recordings(sid)] == [recent]
        [entry] = [e for e in await core.store.audit_log(sid) if e["action"] == "recording.expired"]
        assert entry["target"] == f"recording:{old}" and entry["actor"]["role"] == "system"
        assert entry["details"]["retention_days"] == 2 and entry["details"]["segments"] == 1
        assert await archive.expire() == 0, "nothing twice"
        token = await running.staff_token(Role.MODERATOR)
        status, _, _ = await get(f"{running.url}/api/sessions/{sid}/recordings/{old}/chapters", token)
        assert status == 404
        admin = await running.staff_token(Role.ADMIN)
        access = f"{running.url}/api/sessions/{sid}/archive/access"
        assert (await post(access, admin, {"access": "public"}))[1]["previous"] == "staff"
        assert (await post(access, admin, {"access": "public"}))[1]["previous"] == "public"
        changes = [e for e in await core.store.audit_log(sid) if e["action"] == "archive.set_access"]
        assert len(changes) == 1, "setting the same value again changes nothing"


async def test_directory_storage_round_trip(tmp_path: Path) -> None:
    store = tmp_path / "store"
    settings = make_settings(tmp_path, archive_storage=store.as_uri())
    async for running in run_app(settings):
        core, sid = running.core, running.live_session
        files = recordings_dir(core.settings)
        rec = await add_recording(core, sid, at(0), at(3))
        segment = await add_segment(core, files, sid, rec, "floor", at(0), at(3))
        local = files / f"{sid}/{rec}/floor-{segment}.webm"
        original = local.read_bytes()
        archive: Archive = running.server.app[ARCHIVE_KEY]
        assert await archive.store_away() == 1
        assert not local.exists() and (store / f"{sid}/{rec}/floor-{segment}.webm").read_bytes() == original
        [row] = (await archive.rows.recordings(sid))[0].segments
        assert row.stored_at == (store / f"{sid}/{rec}/floor-{segment}.webm").as_uri()
        assert await archive.store_away() == 0
        token = await mint(core, Role.MODERATOR, sid)
        url = f"{running.url}/api/sessions/{sid}/recordings/{rec}/segments/{segment}"
        status, _, body = await get(url, token, {"Range": "bytes=10-"})
        assert status == 206 and body == original[10:]
        # A location outside the archive directory is refused, not read.
        outside = tmp_path / "outside.webm"
        outside.write_bytes(b"not for the archive")
        async with core.store._tx() as tx, tx.begin():
            stored = await tx.get(m.RecordingSegment, segment)
            assert stored is not None
            stored.stored_at = outside.as_uri()
        status, _, body = await get(url, token)
        assert status == 403 and json.loads(body)["error"]["code"] == "path_outside"


def test_set_access_checks_its_value() -> None:
    from server.domain.archive import check_access

    assert check_access("public") == "public"
    with pytest.raises(InvalidInput):
        check_access("Public")
