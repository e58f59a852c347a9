"""Live captions over real sockets: post and receive, late joiners, refusals, limits, restarts, transcript."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain.captions import (
    CAPTION_WRITES_BURST,
    RECENT_LINES,
    CaptionLine,
    check_language,
    clean_caption,
    counts,
    to_text,
    to_vtt,
)
from server.domain.errors import InvalidInput
from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Client, Running

HOSTILE = '<script>alert("x")</script> & <b>bold</b> --> end'


async def staff(running: Running, role: Role, session_id: int | None = None) -> Client:
    return await running.join(await running.staff_token(role, session_id), session_id)


async def attendee(running: Running, name: str = "Amina Diallo") -> Client:
    return await running.join((await running.register(display_name=name))["token"])


async def stored(running: Running) -> int:
    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(models.Caption)) or 0)


async def get(running: Running, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}{path}", headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


# -- the rules, without a server ---------------------------------------------------------------------------


def test_text_is_cleaned_to_one_line() -> None:
    assert clean_caption("  Good\r\nmorning,\tall \u00a0 ") == "Good morning, all"
    assert clean_caption("a\x00b\x1b[31mc\x7f\u202ed") == "ab[31mcd", "control and override characters go"
    assert clean_caption("e\u0301t\u00e9") == "\u00e9t\u00e9", "NFC"
    assert clean_caption("مرحبا بكم") == "مرحبا بكم"
    assert clean_caption(HOSTILE) == HOSTILE, "markup is text, kept as typed"
    assert len(clean_caption("x" * 500)) == 500
    for bad in ("", "   \n\t", "\x00\x01", "x" * 501, None, 42, ["text"]):
        with pytest.raises(InvalidInput) as refused:
            clean_caption(bad)
        assert refused.value.details == {"field": "text"}


def test_languages_are_the_floor_and_the_sessions_own() -> None:
    assert check_language("floor", ("en", "fr")) == "floor"
    assert check_language("fr", ("en", "fr")) == "fr"
    assert check_language("zh", ()) == "zh", "a session listing no languages takes all six"
    for bad in ("ar", "EN", "de", "", None, 1):
        with pytest.raises(InvalidInput):
            check_language(bad, ("en", "fr"))


def line(seq: int, seconds: float, text: str, language: str = "en") -> CaptionLine:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    return CaptionLine(seq, 1, seq, language, text, at, 7, "Captioner")


def test_webvtt_and_plain_text() -> None:
    lines = [line(1, 0, "Good morning."), line(3, 2.5, HOSTILE), line(4, 30, "Last.")]
    vtt = to_vtt(lines)
    assert vtt.startswith("WEBVTT\n\nNOTE 00:00:00.000 is 2026-11-28T09:00:00Z\n\n")
    cues = vtt.split("\n\n")[2:]
    assert cues[0] == "1\n00:00:00.000 --> 00:00:02.500\nGood morning."
    assert cues[1] == (
        "3\n00:00:02.500 --> 00:00:08.500\n"
        '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; --&gt; end'
    ), "shown until the next line, at most 6 s; markup escaped"
    assert cues[2].startswith("4\n00:00:30.000 --> 00:00:36.000\nLast.")
    assert to_vtt([]) == "WEBVTT\n"
    with pytest.raises(ValueError):
        to_vtt([line(1, 0, "a"), line(2, 1, "b", "fr")])
    assert to_text(lines[:1]) == "[09:00:00] (en) Good morning.\n"
    assert counts([line(1, 0, "a", "fr"), line(2, 1, "b", "floor"), line(3, 2, "c", "fr")]) == {
        "floor": 1,
        "fr": 2,
    }


# -- over real sockets -------------------------------------------------------------------------------------


async def test_a_line_is_stored_then_shown_to_everyone(hemicycle: Running) -> None:
    captioner = await staff(hemicycle, Role.CAPTIONER)
    assert "caption.post" in captioner.last("welcome")["permissions"]
    display = await staff(hemicycle, Role.DISPLAY)
    moderator = await staff(hemicycle, Role.MODERATOR)
    follower = await attendee(hemicycle)
    assert follower.last("welcome")["captions"] == {
        "session_id": hemicycle.live_session,
        "seq": 0,
        "lines": [],
    }

    reply = await captioner.call("caption:post", {"language": "floor", "text": "  Good morning,\n all. "})
    assert reply["ok"], reply
    caption = reply["data"]["caption"]
    assert caption["text"] == "Good morning, all." and caption["seq"] == 1 and caption["language"] == "floor"
    assert caption["by"]["id"] == captioner.last("welcome")["me"]["id"]
    assert caption["at"].endswith("Z")
    assert await stored(hemicycle) == 1
    for client in (display, moderator, follower, captioner):
        assert await client.wait_for("caption") == caption

    second = await captioner.call("caption:post", {"language": "fr", "text": HOSTILE})
    assert second["ok"] and second["data"]["caption"]["seq"] == 2
    assert (await follower.wait_for("caption", lambda c: c["seq"] == 2))["text"] == HOSTILE

    # An administrator may caption too (every permission); nobody else.
    admin = await staff(hemicycle, Role.ADMIN)
    assert (await admin.call("caption:post", {"language": "en", "text": "From the admin"}))["ok"]


async def test_a_late_joiner_gets_recent_lines_of_each_language(hemicycle: Running) -> None:
    captioner = await staff(hemicycle, Role.CAPTIONER)
    for index in range(RECENT_LINES + 5):
        reply = await captioner.call("caption:post", {"language": "floor", "text": f"Floor line {index}"})
        assert reply["ok"], reply
    for text in ("Bonjour", "Merci"):
        assert (await captioner.call("caption:post", {"language": "fr", "text": text}))["ok"]

    late = await attendee(hemicycle, "Late Joiner")
    captions = late.last("welcome")["captions"]
    assert captions["seq"] == RECENT_LINES + 7
    floor = [c["text"] for c in captions["lines"] if c["language"] == "floor"]
    assert floor == [f"Floor line {i}" for i in range(5, RECENT_LINES + 5)], "the last ones, oldest first"
    assert [c["text"] for c in captions["lines"] if c["language"] == "fr"] == ["Bonjour", "Merci"]
    assert [c["seq"] for c in captions["lines"]] == sorted(c["seq"] for c in captions["lines"])

    fetched = await late.call("captions:get", {})
    assert fetched["ok"] and fetched["data"]["captions"] == captions


async def test_refusals_change_nothing(hemicycle: Running) -> None:
    captioner = await staff(hemicycle, Role.CAPTIONER)
    others = {
        "attendee": await attendee(hemicycle),
        **{role.value: await staff(hemicycle, role) for role in (Role.MODERATOR, Role.CHAIR, Role.AV)},
        **{role.value: await staff(hemicycle, role) for role in (Role.INTERPRETER, Role.DISPLAY)},
    }
    for who, client in others.items():
        reply = await client.call("caption:post", {"language": "floor", "text": "Not mine to say"})
        assert not reply["ok"] and reply["error"]["code"] == "forbidden", (who, reply)
        assert (await client.wait_for("error"))["event"] == "caption:post"

    invalid: list[tuple[Any, str | None]] = [
        ({"language": "floor", "text": ""}, "text"),
        ({"language": "floor", "text": " \n\t "}, "text"),
        ({"language": "floor", "text": "\x00\x07"}, "text"),
        ({"language": "floor", "text": "x" * 501}, "text"),
        ({"language": "floor", "text": "x" * 4001}, "text"),
        ({"language": "floor", "text": 42}, "text"),
        ({"language": "floor"}, "text"),
        ({"language": "de", "text": "Guten Tag"}, "language"),
        ({"language": "floor", "text": "hi", "partial": True}, "partial"),
        ("just text", None),
        ([], None),
    ]
    for payload, field in invalid:
        reply = await captioner.call("caption:post", payload)
        assert not reply["ok"] and reply["error"]["code"] == "invalid_input", (payload, reply)
        assert reply["error"].get("details", {}).get("field") == field, (payload, reply)
    assert await stored(hemicycle) == 0
    assert not any(c.received("caption") for c in (captioner, *others.values()))
    assert captioner.sio.connected, "a refusal is a user error: the connection stays"

    moderator = others["moderator"]
    assert (await moderator.call("session:set_state", {"state": "ended"}))["ok"]
    reply = await captioner.call("caption:post", {"language": "floor", "text": "After the end"})
    assert reply["error"]["code"] == "session_ended"
    assert await stored(hemicycle) == 0


async def test_an_unknown_session(hemicycle: Running) -> None:
    refusal = await hemicycle.client().try_connect(
        {"token": await hemicycle.staff_token(Role.CAPTIONER), "session_id": 999999}
    )
    assert refusal["data"]["code"] == "unknown_session"
    token = await hemicycle.staff_token(Role.MODERATOR)
    status, _, body = await get(hemicycle, "/api/sessions/999999/transcript", token)
    assert status == 404 and json.loads(body)["error"]["code"] == "unknown_session"


async def test_flooding_is_refused_per_captioner(hemicycle: Running) -> None:
    captioner = await staff(hemicycle, Role.CAPTIONER)
    second_tab = await staff(hemicycle, Role.CAPTIONER)
    tabs = (captioner, second_tab)
    replies = await asyncio.gather(
        *(
            tabs[index % 2].call("caption:post", {"language": "en", "text": f"Line {index}"}, timeout=20)
            for index in range(CAPTION_WRITES_BURST + 10)
        )
    )
    accepted = [r for r in replies if r["ok"]]
    refused = [r for r in replies if not r["ok"]]
    assert len(accepted) in range(CAPTION_WRITES_BURST, CAPTION_WRITES_BURST + 3), "both tabs count"
    assert refused and {r["error"]["code"] for r in refused} == {"rate_limited"}
    assert await stored(hemicycle) == len(accepted)
    seqs = sorted(r["data"]["caption"]["seq"] for r in accepted)
    assert seqs == list(range(1, len(accepted) + 1)), "numbered without gaps or repeats"
    assert captioner.sio.connected and second_tab.sio.connected


async def test_lines_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    async for first in run_app(settings):
        captioner = await staff(first, Role.CAPTIONER)
        for text in ("Before the restart", "Second line"):
            assert (await captioner.call("caption:post", {"language": "en", "text": text}))["ok"]
    async for second in run_app(settings):
        follower = await attendee(second)
        captions = follower.last("welcome")["captions"]
        assert [c["text"] for c in captions["lines"]] == ["Before the restart", "Second line"]
        captioner = await staff(second, Role.CAPTIONER)
        reply = await captioner.call("caption:post", {"language": "en", "text": "After"})
        assert reply["data"]["caption"]["seq"] == 3, "numbering goes on from the stored lines"


async def test_the_transcript_in_three_formats_and_who_may_read_it(hemicycle: Running) -> None:
    session = hemicycle.live_session
    captioner = await staff(hemicycle, Role.CAPTIONER)
    for language, text in (("en", "Welcome, everyone."), ("fr", "Bienvenue."), ("en", HOSTILE)):
        assert (await captioner.call("caption:post", {"language": language, "text": text}))["ok"]

    token = await hemicycle.staff_token(Role.CAPTIONER)
    status, headers, body = await get(hemicycle, f"/api/sessions/{session}/transcript", token)
    assert status == 200, body
    transcript = json.loads(body)
    assert transcript["session"]["id"] == session and transcript["language"] is None
    assert [(c["seq"], c["language"], c["text"]) for c in transcript["lines"]] == [
        (1, "en", "Welcome, everyone."),
        (2, "fr", "Bienvenue."),
        (3, "en", HOSTILE),
    ]

    status, headers, body = await get(hemicycle, f"/api/sessions/{session}/transcript?language=en", token)
    assert [c["seq"] for c in json.loads(body)["lines"]] == [1, 3]

    status, headers, text = await get(
        hemicycle, f"/api/sessions/{session}/transcript?format=vtt&language=en", token
    )
    assert status == 200 and headers["Content-Type"].startswith("text/vtt")
    assert 'filename="session-' in headers["Content-Disposition"]
    assert text.startswith("WEBVTT\n") and "Welcome, everyone." in text and "Bienvenue" not in text
    assert "<script>" not in text and "&lt;script&gt;" in text

    status, headers, text = await get(hemicycle, f"/api/sessions/{session}/transcript?format=txt", token)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert text.splitlines()[1].endswith("(fr) Bienvenue.") and HOSTILE in text

    for query, field in (
        ("format=srt", "format"),
        ("format=vtt", "language"),
        ("language=de", "language"),
    ):
        status, _, body = await get(hemicycle, f"/api/sessions/{session}/transcript?{query}", token)
        assert status == 422 and json.loads(body)["error"]["details"]["field"] == field, (query, body)

    for role in (Role.MODERATOR, Role.ADMIN):
        status, _, _ = await get(
            hemicycle, f"/api/sessions/{session}/transcript", await hemicycle.staff_token(role)
        )
        assert status == 200, role
    refusals = {
        "no token": (None, 401, "token_missing"),
        "attendee": ((await hemicycle.register(display_name="Curious"))["token"], 403, "forbidden"),
        "chair": (await hemicycle.staff_token(Role.CHAIR), 403, "forbidden"),
        "display": (await hemicycle.staff_token(Role.DISPLAY), 403, "forbidden"),
        "another session's captioner": (
            await hemicycle.staff_token(Role.CAPTIONER, hemicycle.scheduled_session),
            403,
            "wrong_session",
        ),
    }
    for who, (bad, expected_status, code) in refusals.items():
        status, _, body = await get(hemicycle, f"/api/sessions/{session}/transcript", bad)
        assert (status, json.loads(body)["error"]["code"]) == (expected_status, code), who
