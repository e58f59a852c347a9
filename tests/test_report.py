"""The session record, built through the real protocol, and its figures in every format."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from server.domain.queue import EntryState
from server.domain.report import Visit, attendance, balance
from server.domain.roles import Role
from server.keys import HUB_KEY

from .browser import link, open_page, real_errors, shoot, shoot_sizes
from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually, mint
from .test_booths import go_on, interpreter_client
from .test_queue_domain import entry as make_entry
from .test_statements import upload

HAND = {"type": "statement", "language": "en"}
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> Zoë"
CAPTIONS = (
    ("floor", "The session is open."),
    ("fr", "La séance est ouverte."),
    ("floor", "<script>alert(1)</script> =SUM(A1)"),
)


class FrozenClock:
    """The server's clock, moved by the test: durations in the record are exact."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# -- the figures, without a server ------------------------------------------------------------------------


def spoken(eid: int, seconds: int, participant: int, **fields: Any) -> Any:
    granted = START + timedelta(minutes=eid)
    return make_entry(
        eid,
        state=EntryState.DONE,
        granted=granted,
        ended=granted + timedelta(seconds=seconds),
        participant=participant,
        **fields,
    )


def test_small_gender_and_age_groups_show_no_figures() -> None:
    entries = [spoken(i, 60, 100 + i, gender="woman") for i in range(1, 6)]
    entries += [spoken(i, 30, 100 + i, gender="man", age="under_25") for i in range(6, 8)]
    entries += [spoken(8, 45, 106, gender="man", age="under_25")]  # the same man again
    figures = balance(entries, {"gender": {"woman": 0.5, "man": 0.5}}, START, threshold=5)
    gender = {row["value"]: row for row in figures["dimensions"]["gender"]}
    assert gender["woman"]["interventions"] == 5 and gender["woman"]["speaking_seconds"] == 300
    assert gender["woman"]["suppressed"] is None and gender["woman"]["target"] == 0.5
    man = gender["man"]
    assert man["suppressed"] == "fewer than 5", "two men spoke three times: too few people to show"
    assert man["interventions"] is None and man["speaking_seconds"] is None and man["share_of_time"] is None
    assert man["target"] == 0.5, "the target is not personal data"
    youth = {row["value"]: row for row in figures["dimensions"]["youth"]}
    assert youth["youth"]["suppressed"] == "fewer than 5"
    assert youth["unspecified"]["interventions"] == 5
    # Stakeholder groups are not personal data: no threshold there.
    groups = {row["value"]: row for row in figures["dimensions"]["stakeholder_group"]}
    assert sum(row["interventions"] for row in groups.values()) == 8
    assert figures["interventions"] == 8 and figures["speaking_seconds"] == 5 * 60 + 2 * 30 + 45


def test_attendance_counts_people_not_tabs() -> None:
    def visit(
        pid: int, start: int, end: int | None, role: str = "attendee", group: str = "civil_society"
    ) -> Visit:
        return Visit(
            pid,
            role,
            group,
            "KE",
            START + timedelta(seconds=start),
            START + timedelta(seconds=end) if end is not None else None,
        )

    visits = [
        visit(1, 0, 600, role="moderator", group="government"),
        visit(2, 30, 300),
        visit(2, 60, 200),  # a second tab of the same person
        visit(3, 90, None, group="private_sector"),
        visit(4, 400, 500),
    ]
    figures = attendance(visits, START + timedelta(seconds=700))
    assert figures["connections"] == 5 and figures["people"] == 4
    assert figures["attendees"] == 3 and figures["staff"] == 1
    assert figures["peak_concurrent"] == 3, "person 2's two tabs count once"
    assert figures["peak_at"] == "2026-11-28T09:01:30Z"
    assert figures["leaves"] == 4
    assert figures["by_stakeholder_group"] == {"civil_society": 2, "private_sector": 1}
    curve = figures["curve"]
    assert curve[0] == {"at": "2026-11-28T09:00:00Z", "people": 2}
    # The most people at once in each minute (a level held up to a minute's first instant counts in it).
    assert [p["people"] for p in curve] == [2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 1]


# -- a recorded session, over real sockets -----------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def recorded(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[tuple[Running, dict[str, Any]]]:
    """A session as it happened: five women who consented speak, one man, an in-room delegate; questions go
    through every stage; one attendee leaves early."""
    # The clock jumps minutes at a time between heartbeats: a long grace keeps speakers from being taken
    # for gone.
    settings = make_settings(tmp_path, report_min_group=5, floor_grace_seconds=86400)
    async for running in run_app(settings, clock=clock):
        moderator = await running.join(await running.staff_token(Role.MODERATOR))
        chair = await running.join(await running.staff_token(Role.CHAIR))
        speakers: list[Client] = []
        for index in range(5):
            registered = await running.register(
                display_name=f"Delegate {index}" if index else HOSTILE,
                stakeholder_group="civil_society" if index < 3 else "government",
                country="KE" if index < 3 else "FR",
                consent_demographics=True,
                gender="woman",
                age_band="under_25" if index == 0 else "35_49",
            )
            speakers.append(await running.join(registered["token"]))
        man = await running.register(
            display_name="Kofi Mensah",
            stakeholder_group="academic_technical",
            country="GH",
            consent_demographics=True,
            gender="man",
            age_band="50_64",
        )
        speakers.append(await running.join(man["token"]))
        leaver = await running.join((await running.register(display_name="Early leaver"))["token"])

        entries = [(await s.call("hand:raise", HAND))["data"]["entry"]["id"] for s in speakers]
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
        entries.insert(0, added["data"]["entry"]["id"])  # a right of reply goes first
        # The captioner's lines go through the use case: a captioner's connection would change the
        # attendance figures below (tests/test_captions.py covers the socket).
        captioner, _ = await running.core.authenticate(await running.staff_token(Role.CAPTIONER))
        captions = running.server.app[HUB_KEY].captions.captions
        # Each speaks 60 s more than the one before, from 60 s; the last is still speaking. The first three
        # turns are captioned as they start.
        for turn, entry_id in enumerate(entries):
            assert (await moderator.call("floor:grant", {"entry_id": entry_id, "limit_seconds": 120}))["ok"]
            if turn < len(CAPTIONS):
                await captions.post(captioner, running.live_session, *CAPTIONS[turn])
            clock.advance(60 * (turn + 1))
            if turn < len(entries) - 1:
                assert (await moderator.call("floor:end", {"entry_id": entry_id}))["ok"]
        # One more hand, lowered again.
        await leaver.call("hand:raise", HAND)
        await leaver.call("hand:lower")
        await leaver.close()

        asker = speakers[1]
        ids = []
        for text in ("How will the action lines be measured?", '=HYPERLINK("x")', "Who funds it?"):
            ids.append((await asker.call("question:post", {"text": text}))["data"]["question"]["id"])
        for qid in ids[:2]:
            assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))[
                "ok"
            ]
        assert (await moderator.call("question:relay", {"question_id": ids[0], "stage": "forwarded"}))["ok"]
        assert (await chair.call("question:relay", {"question_id": ids[0], "stage": "read"}))["ok"]
        assert (await chair.call("question:relay", {"question_id": ids[0], "stage": "answered"}))["ok"]
        # A help request with its link figures: the record keeps the conversation, never the figures. Staff
        # answer through the use case (a staff connection would change the attendance figures).
        opened = await speakers[2].call(
            "help:open",
            {"category": "no_sound", "language": "fr", "text": "=No sound", "figures": HELP_FIGURES},
        )
        thread_id = opened["data"]["thread"]["id"]
        staff, _ = await running.core.authenticate(await running.staff_token(Role.AV))
        desk = running.server.app[HUB_KEY].help.desk
        await desk.reply(staff, running.live_session, thread_id, None, "check_channel")
        assert (await speakers[2].call("help:message", {"thread_id": thread_id, "text": "Merci"}))["ok"]
        await desk.close(staff, running.live_session, thread_id)
        await asyncio.sleep(0.2)  # the leaver's disconnection is recorded
        yield running, {"entries": entries, "questions": ids, "help": thread_id}


# Figures that must not reach the record in any format: each is distinctive enough to be searched for.
HELP_FIGURES = {"rtt_ms": 4321.5, "loss_pct": 12.75, "browser": "ZebraBrowser", "browser_version": "98.7.6"}


async def test_help_requests_are_in_the_record_without_their_figures(
    recorded: tuple[Running, dict[str, Any]], tmp_path: Path
) -> None:
    running, facts = recorded
    token = await running.staff_token(Role.MODERATOR)
    base = f"/api/sessions/{running.live_session}/report"
    _, _, body = await get(running, base, token)
    record = json.loads(body)
    assert record["help"]["counts"] == {"no_sound": 1}
    [thread] = record["help"]["threads"]
    assert thread["id"] == facts["help"] and thread["opened_by"] == "Delegate 2"
    assert thread["category"] == "no_sound" and thread["state"] == "closed"
    assert thread["closed_by"] == "AV technician" and thread["answered_by"] == ["AV technician"]
    assert thread["closed_at"] and thread["opened_at"]
    assert [(m["from"], m["by"], m["text"]) for m in thread["messages"]] == [
        ("attendee", "Delegate 2", "=No sound"),
        (
            "staff",
            "AV technician",
            "Vérifiez le canal choisi (parquet ou interprétation) et le volume de votre appareil.",
        ),
        ("attendee", "Delegate 2", "Merci"),
    ]
    assert all(m["at"] for m in thread["messages"])

    _, _, figures_csv = await get(running, f"{base}?format=csv", token)
    rows = [r for r in csv.DictReader(io.StringIO(figures_csv)) if r["section"] == "help"]
    assert [(r["value"], r["measure"], r["figure"]) for r in rows] == [("no_sound", "requests", "1")]
    _, _, help_csv = await get(running, f"{base}?format=csv&part=help", token)
    listed = list(csv.DictReader(io.StringIO(help_csv)))
    assert listed[0]["text"] == "'=No sound", "a formula is quoted as text"
    assert [r["from"] for r in listed] == ["attendee", "staff", "attendee"]
    assert list(listed[0]) == [
        "session",
        "thread",
        "opened_by",
        "category",
        "opened_at",
        "closed_at",
        "closed_by",
        "answered_by",
        "at",
        "from",
        "by",
        "text",
    ]
    _, _, page = await get(running, f"{base}?format=html", token)
    assert "<h2>Help desk</h2>" in page and "1 help request (I can’t hear the floor: 1)." in page
    assert "=No sound" in page and "Merci" in page
    _, _, page_fr = await get(running, f"{base}?format=html&lang=fr", token)
    assert "Assistance technique" in page_fr

    for text in (body, figures_csv, help_csv, page):
        for figure in ("4321.5", "12.75", "ZebraBrowser", "98.7.6"):
            assert figure not in text, f"a figure reached the record: {figure}"
    assert "figures" not in json.dumps(record["help"])

    out = tmp_path / "help.csv"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "report",
        str(running.live_session),
        "--format",
        "csv",
        "--part",
        "help",
        "--out",
        str(out),
        env={
            "DATABASE_URL": running.core.settings.database_url,
            "HEMICYCLE_SECRET": running.core.settings.secret,
            "PATH": "",
        },
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    assert out.read_bytes().decode("utf-8") == help_csv


async def get(running: Running, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}{path}", headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


async def test_session_record_in_every_format(recorded: tuple[Running, dict[str, Any]]) -> None:
    running, _ = recorded
    token = await running.staff_token(Role.MODERATOR)
    status, _, body = await get(running, f"/api/sessions/{running.live_session}/report", token)
    assert status == 200, body
    record = json.loads(body)

    assert record["requests"] == {"requested": 8, "granted": 7, "withdrawn": 1, "removed": 0, "waiting": 0}
    interventions = record["interventions"]
    assert [i["duration_seconds"] for i in interventions] == [60, 120, 180, 240, 300, 360, 420]
    assert interventions[0]["speaker"] == "H.E. Ms. Rosa Álvarez" and interventions[0]["in_room"] is True
    assert interventions[1]["speaker"] == HOSTILE
    assert [i["overrun_seconds"] for i in interventions] == [0, 0, 60, 120, 180, 240, 300]
    assert [i["end_reason"] for i in interventions] == ["finished"] * 6 + [None]
    assert all("gender" not in i and "age_band" not in i for i in interventions), "never per person"

    figures = record["balance"]
    assert figures["interventions"] == 7 and figures["speaking_seconds"] == sum(range(60, 421, 60))
    groups = {row["value"]: row for row in figures["dimensions"]["stakeholder_group"]}
    assert groups["civil_society"]["interventions"] == 3
    assert groups["civil_society"]["speaking_seconds"] == 120 + 180 + 240
    assert groups["government"]["speaking_seconds"] == 60 + 300 + 360
    assert groups["academic_technical"]["speaking_seconds"] == 420
    gender = {row["value"]: row for row in figures["dimensions"]["gender"]}
    assert gender["woman"]["interventions"] == 5 and gender["woman"]["speaking_seconds"] == 1200
    assert gender["man"]["suppressed"] == "fewer than 5" and gender["man"]["speaking_seconds"] is None
    assert gender["unspecified"]["interventions"] == 1, "the in-room delegate gave no gender"
    youth = {row["value"]: row for row in figures["dimensions"]["youth"]}
    assert youth["youth"]["suppressed"] == "fewer than 5", "one young woman: not shown"
    regions = {row["value"]: row["interventions"] for row in figures["dimensions"]["region"]}
    assert regions == {"africa": 4, "americas": 1, "asia": 0, "europe": 2, "oceania": 0}, "with targets"

    funnel = record["questions"]["funnel"]
    assert funnel["total"] == {"asked": 3, "approved": 2, "forwarded": 1, "read": 1, "answered": 1}
    assert funnel["by_stakeholder_group"] == {
        "civil_society": {"asked": 3, "approved": 2, "forwarded": 1, "read": 1, "answered": 1}
    }
    people = record["attendance"]
    assert people["people"] == 9 and people["attendees"] == 7 and people["staff"] == 2
    assert people["connections"] == 9 and people["leaves"] == 1 and people["peak_concurrent"] == 9
    assert people["by_country"] == {"FR": 2, "GH": 1, "KE": 3, "SN": 1}
    actions = [e["action"] for e in record["audit"]]
    assert actions.count("floor.grant") == 7 and "question.approve" in actions
    transcript = record["transcript"]
    assert transcript["counts"] == {"floor": 2, "fr": 1}
    assert [(c["seq"], c["language"], c["text"]) for c in transcript["lines"]] == [
        (n + 1, language, text) for n, (language, text) in enumerate(CAPTIONS)
    ]
    # As the first three turns start: after 0, 60 and 60 + 120 seconds.
    assert [c["at"] for c in transcript["lines"]] == [
        "2026-11-28T09:00:00Z",
        "2026-11-28T09:01:00Z",
        "2026-11-28T09:03:00Z",
    ]
    assert {c["captioner"] for c in transcript["lines"]} == {"Captioner"}

    status, headers, text = await get(
        running, f"/api/sessions/{running.live_session}/report?format=csv", token
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    man_rows = [r for r in rows if r["dimension"] == "gender" and r["value"] == "man"]
    assert {r["figure"] for r in man_rows if r["measure"] != "target"} == {"fewer than 5"}
    woman_time = next(
        r
        for r in rows
        if r["dimension"] == "gender" and r["value"] == "woman" and r["measure"] == "speaking_seconds"
    )
    assert woman_time["figure"] == "1200"
    assert {
        r["measure"]: r["figure"] for r in rows if r["section"] == "questions" and r["value"] == "all"
    } == {
        "asked": "3",
        "approved": "2",
        "forwarded": "1",
        "read": "1",
        "answered": "1",
    }

    status, _, text = await get(
        running, f"/api/sessions/{running.live_session}/report?format=csv&part=interventions", token
    )
    listed = list(csv.DictReader(io.StringIO(text)))
    captions = [r for r in rows if r["section"] == "captions"]
    assert {(r["value"], r["measure"], r["figure"]) for r in captions} == {
        ("floor", "lines", "2"),
        ("fr", "lines", "1"),
    }
    assert [r["duration_seconds"] for r in listed] == [
        "60.0",
        "120.0",
        "180.0",
        "240.0",
        "300.0",
        "360.0",
        "420.0",
    ]

    status, _, text = await get(
        running, f"/api/sessions/{running.live_session}/report?format=csv&part=transcript", token
    )
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [r["text"] for r in lines] == [
        "The session is open.",
        "La séance est ouverte.",
        "<script>alert(1)</script> =SUM(A1)",
    ]
    assert list(lines[0]) == ["session", "seq", "at", "language", "text", "captioner"]

    status, headers, page = await get(
        running, f"/api/sessions/{running.live_session}/report?format=html", token
    )
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert (
        "script-src" not in headers["Content-Security-Policy"]
        and "default-src 'none'" in headers["Content-Security-Policy"]
    )
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt; Zoë" in page, "names are escaped"
    assert "<script" not in page
    assert "fewer than 5" in page and "Speaking time by stakeholder group" in page
    assert "=HYPERLINK(&#34;x&#34;)" in page
    assert "<h2>Transcript</h2>" in page and "Floor (as spoken in the room): 2 lines · French: 1 line" in page
    # Codes in words, and times in the event's time zone (as on the consoles), which the header names.
    assert "Academic and technical community" in page and "academic technical" not in page
    assert "civil society" not in page and "Not stated" in page
    assert "(Europe/Zurich)" in page and "UTC" not in page
    granted = datetime.fromisoformat(interventions[0]["granted_at"].replace("Z", "+00:00"))
    assert f"<td>{granted.astimezone(ZoneInfo('Europe/Zurich')):%H:%M:%S}</td>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; =SUM(A1)" in page and "La séance est ouverte." in page


def _cells(page: str, section: str) -> list[list[str]]:
    """The text of each row of one section's table, tags removed."""
    start = page.index(f'<section class="{section}">')
    body = page[start : page.index("</section>", start)]
    text = lambda cell: " ".join(re.sub(r"<[^>]+>", " ", cell).split())  # noqa: E731
    return [
        [text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    ]


async def test_report_words_are_the_readers(recorded: tuple[Running, dict[str, Any]]) -> None:
    """The moderation log, the countries and the turn still going: the server's own words are in the reader's
    language too, not codes or English (roles, types, end reasons, mutes, the system)."""
    running, _ = recorded
    moderator = await running.join(await running.staff_token(Role.MODERATOR))
    loud = await running.register(display_name="Loud")
    await running.join(loud["token"])
    muted = await moderator.call(
        "participant:mute", {"participant_id": loud["participant"]["id"], "audio": True, "reason": "noise"}
    )
    assert muted["ok"], muted
    token = await running.staff_token(Role.MODERATOR)
    pages = {}
    for language in ("en", "fr", "ar"):
        status, _, pages[language] = await get(
            running, f"/api/sessions/{running.live_session}/report?format=html&lang={language}", token
        )
        assert status == 200
    expected = {
        # language: (system, a link's role, type, end reason, muted, still speaking, Kenya, floor captions)
        "en": (
            "System",
            "Role: Moderator",
            "Type: Right of reply",
            "Reason: Finished",
            "Microphone: muted",
            "Now speaking",
            "Kenya",
            "Floor (as spoken in the room)",
        ),
        "fr": (
            "Système",
            "Rôle : Modérateur",
            "Type : Droit de réponse",
            "Motif : Terminée",
            "Micro : coupé",
            "Intervention en cours",
            "Kenya",
            "Son de la salle (tel que prononcé dans la salle)",
        ),
        "ar": (
            "النظام",
            "الدور: المنسق",
            "النوع: حق الرد",
            "السبب: انتهت",
            "الميكروفون: مكتوم",
            "يأخذ الكلمة الآن",
            "كينيا",
            "صوت القاعة (كما يُقال في القاعة)",
        ),
    }
    for language, (system, role, kind, reason, mute, speaking, kenya, floor) in expected.items():
        page = pages[language]
        log = _cells(page, "audit")
        issued = [row for row in log if len(row) == 4 and row[1] == system and row[3] == role]
        assert issued, (language, log[:4])
        details = [row[3] for row in log if len(row) == 4]
        assert any(kind in d for d in details), (language, details)
        assert any(reason in d for d in details), (language, details)
        assert any(mute in d and "noise" in d for d in details), (language, details)
        words = " ".join(" ".join(row) for row in log)
        for code in ("right_of_reply", "finished", "True", "False", "system", "moderator", "Hemicycle"):
            assert code not in words.split(), (language, code)
        assert _cells(page, "interventions")[-1][-1] == speaking
        assert kenya in [row[0] for row in _cells(page, "attendance")]
        assert floor in page


async def _booth_turns(running: Running, clock: FrozenClock) -> dict[str, str]:
    """Two turns with booths on air through a real relay, and the printed record (English and French): Ana
    hands the Spanish booth to Ben during the first turn, Ben asks the speaker to slow down, the French booth
    stays on air; the first speaker sent a statement in advance."""
    ana = await interpreter_client(running, ["es"], "Ana")
    ben = await interpreter_client(running, ["es"], "Ben")
    fanny = await interpreter_client(running, ["fr"], "Fanny")
    moderator = await running.join(await running.staff_token(Role.MODERATOR))
    mics = []
    try:
        for client, language in ((ana, "es"), (ben, "es"), (fanny, "fr")):
            mic, reply = await go_on(client, language, 440.0)
            mics.append(mic)
            assert reply["ok"], reply
        sofia = await running.register(display_name="Sofía")
        entries = []
        for registered, language in ((sofia, "es"), (await running.register(display_name="Li"), "zh")):
            client = await running.join(registered["token"])
            hand = await client.call("hand:raise", {"type": "statement", "language": language})
            entries.append(hand["data"]["entry"]["id"])
        text = "Madame la Présidente".encode()
        status, sent = await upload(running, sofia["token"], entries[0], text, "speech.txt", "text/plain")
        assert status == 201, sent
        assert (await moderator.call("floor:grant", {"entry_id": entries[0]}))["ok"]
        clock.advance(60)
        assert (await ana.call("booth:offer", {"language": "es"}))["ok"]
        assert (await ben.call("booth:take", {"language": "es"}))["ok"]
        assert (await ben.call("booth:slow_down", {"language": "es"}))["ok"]
        clock.advance(60)
        assert (await moderator.call("floor:end", {"entry_id": entries[0]}))["ok"]
        assert (await moderator.call("floor:grant", {"entry_id": entries[1]}))["ok"]
        clock.advance(30)
        token = await running.staff_token(Role.MODERATOR)
        path = f"/api/sessions/{running.live_session}/report?format=html"

        async def handed_over() -> bool:  # the relay records the handover as it happens, not before its ack
            _, _, page = await get(running, path, token)
            return "1 handover" in page

        await eventually(handed_over)
        return {
            language: (await get(running, f"{path}&lang={language}", token))[2] for language in ("en", "fr")
        }
    finally:
        for mic in mics:
            await mic.close()


async def test_the_printed_record_shows_each_turns_booths(tmp_path: Path, clock: FrozenClock) -> None:
    """Booths as a real relay recorded them: the page says who was on air, when, the handovers, the "slow
    down" notices and the statement sent in advance, per intervention, in the reader's words."""
    async for running in run_app(make_settings(tmp_path, floor_grace_seconds=86400), clock=clock):
        pages = await _booth_turns(running, clock)
    rows = _cells(pages["en"], "interventions")
    assert rows[0][-4:] == ["Statement in advance", "Booths", "Slow-down notices", "Ended"]
    first, second = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    # Times in the event's zone (Europe/Zurich: 09:00 UTC is 10:00).
    assert first["Booths"] == (
        "Spanish: Ana (10:00:00–10:01:00), Ben (10:01:00–10:02:00) · 1 handover · 1 slow-down notice "
        "French: Fanny (10:00:00–10:02:00)"
    )
    assert first["Slow-down notices"] == "1" and first["Statement in advance"] == "Text"
    assert second["Booths"] == "French: Fanny (10:02:00–still on air) Spanish: Ben (10:02:00–still on air)"
    assert second["Slow-down notices"] == "0" and second["Statement in advance"] == "—"
    french = _cells(pages["fr"], "interventions")[1]
    assert "Espagnol : Ana (10:00:00–10:01:00)" in french[-3], french
    assert "1 relève" in french[-3] and "1 demande de ralentir" in french[-3], french
    assert "still on air" not in pages["fr"] and "toujours à l’antenne" in pages["fr"]


async def test_event_record_and_who_may_read(recorded: tuple[Running, dict[str, Any]]) -> None:
    running, _ = recorded
    session = running.live_session
    registered = await running.register(display_name="Curious attendee")
    refusals = {
        "no token": (None, 401, "token_missing"),
        "forged": ("not-a-token", 401, "token_invalid"),
        "attendee": (registered["token"], 403, "forbidden"),
        "chair": (await running.staff_token(Role.CHAIR), 403, "forbidden"),
        "other session's moderator": (
            await running.staff_token(Role.MODERATOR, running.scheduled_session),
            403,
            "wrong_session",
        ),
    }
    for label, (token, status, code) in refusals.items():
        got, _, body = await get(running, f"/api/sessions/{session}/report", token)
        assert (got, json.loads(body)["error"]["code"]) == (status, code), label

    moderator = await running.staff_token(Role.MODERATOR)
    for query, field in (("format=xml", "format"), ("format=csv&part=everything", "part")):
        got, _, body = await get(running, f"/api/sessions/{session}/report?{query}", moderator)
        assert got == 422 and json.loads(body)["error"]["details"]["field"] == field
    got, _, body = await get(running, "/api/sessions/999999/report", moderator)
    assert got == 404 and json.loads(body)["error"]["code"] == "unknown_session"

    got, _, body = await get(running, f"/api/events/{running.event_id}/report", moderator)
    assert got == 403, "a session's moderator does not see the whole event"
    admin = await running.staff_token(Role.ADMIN)
    got, _, body = await get(running, "/api/events/999999/report", admin)
    assert got == 404 and json.loads(body)["error"]["code"] == "unknown_event"
    got, _, body = await get(running, f"/api/events/{running.event_id}/report", admin)
    assert got == 200
    record = json.loads(body)
    assert record["kind"] == "event" and len(record["sessions"]) == len(
        await running.core.store.list_sessions(running.event_id)
    )
    assert record["balance"]["interventions"] == 7 and record["questions"]["funnel"]["total"]["asked"] == 3
    got, _, text = await get(running, f"/api/events/{running.event_id}/report?format=csv", admin)
    scopes = {row["session"] for row in csv.DictReader(io.StringIO(text))}
    assert "event" in scopes and len(scopes) > 2


async def test_command_line_report(recorded: tuple[Running, dict[str, Any]], tmp_path: Path) -> None:
    running, _ = recorded
    database = running.core.settings.database_url
    env = {"DATABASE_URL": database, "HEMICYCLE_SECRET": running.core.settings.secret, "PATH": ""}

    async def hemicycle(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            "report",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, out.decode(), err.decode()

    out = tmp_path / "record.json"
    code, _, err = await hemicycle(str(running.live_session), "--format", "json", "--out", str(out))
    assert code == 0, err
    record = json.loads(out.read_text(encoding="utf-8"))
    # Finished turns as stored (the last one is still going: the command counts it on its own clock).
    assert [i["duration_seconds"] for i in record["interventions"][:6]] == [60, 120, 180, 240, 300, 360]
    assert record["transcript"]["counts"] == {"floor": 2, "fr": 1}

    transcript = tmp_path / "transcript.csv"
    code, _, err = await hemicycle(
        str(running.live_session), "--format", "csv", "--part", "transcript", "--out", str(transcript)
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(transcript.read_text(encoding="utf-8"))))
    assert [r["language"] for r in rows] == ["floor", "fr", "floor"]
    transcript.unlink()

    event_file = tmp_path / "event.html"
    code, _, err = await hemicycle(
        "--event", str(running.event_id), "--format", "html", "--out", str(event_file)
    )
    assert code == 0, err
    assert "session" in err and "100%" in err, "a progress bar per session"
    assert event_file.read_text(encoding="utf-8").startswith("<!doctype html>")

    for args, message in (
        ((str(running.live_session), "--out", str(tmp_path / "missing" / "r.html")), "there is no folder"),
        (("424242", "--out", str(tmp_path / "r.html")), "there is no session 424242"),
        (("--event", "424242", "--out", str(tmp_path / "r.html")), "there is no event 424242"),
    ):
        code, _, err = await hemicycle(*args)
        assert code == 1 and message in err, err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = await hemicycle(str(running.live_session), "--out", str(locked / "r.html"))
        if code == 0:  # running as root: permissions do not stop it
            (locked / "r.html").unlink()
        else:
            assert code == 1 and "hemicycle:" in err
        assert not [p for p in locked.iterdir() if p.name != "r.html"], "nothing partial left behind"
    finally:
        locked.chmod(0o700)
    names = await asyncio.to_thread(os.listdir, tmp_path)
    left = sorted(n for n in names if not n.startswith("hemicycle.db"))
    assert left == ["event.html", "locked", "record.json"], "nothing partial left behind"


@pytest.mark.browser
async def test_report_page_in_chromium(recorded: tuple[Running, dict[str, Any]], browser: Browser) -> None:
    running, _ = recorded
    errors: list[str] = []
    token = await running.staff_token(Role.MODERATOR)
    page = await open_page(browser, f"{running.url}/s/{running.live_session}/report#token={token}", errors)
    report = page.get_by_test_id("report")
    await expect(report).to_contain_text("Speaking time by stakeholder group")
    await expect(report.locator('[data-name="interventions"]')).to_have_text("7")
    await expect(report.get_by_test_id("interventions").locator("tbody tr")).to_have_count(7)
    await expect(report).to_contain_text(HOSTILE)
    assert await page.locator("img[src=x]").count() == 0, "markup in a name is shown as text"
    assert "#token=" not in page.url
    await shoot(page, "report-session")
    await shoot_sizes(page, "report-session")
    await page.emulate_media(media="print")
    await shoot(page, "report-session-print")
    await page.emulate_media(media="screen")

    # In French: the server writes the record in the page's language, with the pages' catalogues.
    await page.goto(f"{running.url}/s/{running.live_session}/report?lang=fr")
    await expect(report).to_contain_text("Temps de parole par groupe de parties prenantes")
    await expect(report).to_contain_text("Journal de modération")
    await expect(report).to_contain_text("Société civile")
    await expect(report).to_contain_text("Parole donnée")
    await expect(report).not_to_contain_text("Speaking time by stakeholder group")
    await shoot(page, "report-session-fr")
    # In Arabic, right to left, with the figures in the reader's way.
    await page.goto(f"{running.url}/s/{running.live_session}/report?lang=ar")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(report).to_contain_text("وقت الكلمة حسب فئة أصحاب المصلحة")
    await expect(report).to_contain_text("سجل الإدارة")
    await shoot_sizes(page, "report-session-ar")

    # An attendee's link opens the page but not the record: the page says why.
    registered = await running.register(display_name="Curious attendee")
    other = await open_page(
        browser, f"{running.url}/s/{running.live_session}/report#token={registered['token']}", errors
    )
    await expect(other.get_by_test_id("error-message")).to_contain_text("moderators")
    assert not [e for e in real_errors(errors) if "403" not in e], "\n".join(errors)


async def test_report_in_moderator_console_links_to_the_record(hemicycle: Running, browser: Browser) -> None:
    token = await mint(hemicycle.core, Role.MODERATOR, hemicycle.live_session)
    errors: list[str] = []
    page = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/moderator#token={token}", errors
    )
    link = page.get_by_test_id("report-link")
    await expect(link).to_have_attribute("href", f"/s/{hemicycle.live_session}/report")


@pytest.mark.browser
async def test_event_record_from_the_administrators_page(
    recorded: tuple[Running, dict[str, Any]], browser: Browser
) -> None:
    running, _ = recorded
    errors: list[str] = []
    admin = await open_page(browser, await link(running, Role.ADMIN), errors)
    report_link = admin.get_by_test_id("event-report-link")
    await expect(report_link).to_have_attribute("href", f"/e/{running.event_id}/report")
    async with admin.context.expect_page() as opened:
        await report_link.click()
    page = await opened.value
    report = page.get_by_test_id("report")
    await expect(report).to_contain_text("Event record")
    await expect(report.locator('[data-name="interventions"]')).to_have_text("7")
    await shoot(page, "report-event")
    await shoot_sizes(page, "report-event")
    assert not real_errors(errors), errors
