"""Live polls: the rules without a server, then over real sockets on both databases (prepare, open, answer,
show, close), every refusal changing nothing, and the answer limit across two processes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain.errors import Conflict, InvalidInput
from server.domain.polls import (
    TEXT_MAX_CHARS,
    Answer,
    Poll,
    PollKind,
    PollState,
    check_answer,
    check_poll,
    normalize_word,
    results,
)
from server.domain.roles import Role
from server.reports import Reports, render
from server.service import Hemicycle

from .conftest import make_settings, run_app
from .helpers import Client, Running, mint, register_at
from .test_multiprocess import two_servers

__all__ = ["two_servers"]

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def poll(kind: PollKind, options: tuple[str, ...] = (), state: PollState = PollState.OPEN) -> Poll:
    return Poll(1, 1, 1, kind, "Q?", options, state, False, NOW, NOW, None)


def answer(
    n: int,
    choices: tuple[int, ...] = (),
    text: str | None = None,
    group: str = "government",
    country: str = "SN",
) -> Answer:
    return Answer(1, n, choices, text, group, country, NOW)


# -- the rules, without a server ---------------------------------------------------------------------------


def test_a_poll_is_checked_by_its_kind() -> None:
    assert check_poll(PollKind.SINGLE, "  Which\n one? ", ["Yes", "No"]) == ("Which one?", ("Yes", "No"))
    assert check_poll(PollKind.RATING, "How was it?", []) == ("How was it?", ())
    assert check_poll(PollKind.TEXT, "« Un mot » ?", []) == ("« Un mot » ?", ()), "kept as entered"
    for kind, question, options in (
        (PollKind.SINGLE, "Q", ["only one"]),
        (PollKind.MULTIPLE, "Q", [str(n) for n in range(11)]),
        (PollKind.SINGLE, "Q", ["Yes", "yes"]),
        (PollKind.SINGLE, "Q", ["Yes", ""]),
        (PollKind.RATING, "Q", ["1"]),
        (PollKind.TEXT, "", []),
        (PollKind.TEXT, "x" * 301, []),
    ):
        with pytest.raises(InvalidInput):
            check_poll(kind, question, options)


def test_an_answer_is_checked_against_its_poll() -> None:
    choice = poll(PollKind.SINGLE, ("a", "b", "c"))
    assert check_answer(choice, [2], None, None) == ((2,), None)
    assert check_answer(poll(PollKind.MULTIPLE, ("a", "b", "c")), [2, 0], None, None) == ((0, 2), None)
    assert check_answer(poll(PollKind.RATING), None, 5, None) == ((5,), None)
    assert check_answer(poll(PollKind.TEXT), None, None, "  Open\tdata ") == ((), "Open data")
    refusals: list[tuple[Poll, Any, Any, Any, str]] = [
        (choice, [3], None, None, "unknown_option"),
        (choice, [-1], None, None, "unknown_option"),
        (choice, [0, 1], None, None, "invalid_input"),
        (choice, [], None, None, "invalid_input"),
        (choice, None, 1, None, "invalid_input"),
        (poll(PollKind.MULTIPLE, ("a", "b")), [0, 0], None, None, "invalid_input"),
        (poll(PollKind.RATING), None, 6, None, "invalid_rating"),
        (poll(PollKind.RATING), None, 0, None, "invalid_rating"),
        (poll(PollKind.TEXT), None, None, "x" * 10_000, "answer_too_long"),
        (poll(PollKind.TEXT), None, None, "   ", "invalid_input"),
    ]
    for target, choices, rating, text, code in refusals:
        with pytest.raises(InvalidInput) as refused:
            check_answer(target, choices, rating, text)
        assert refused.value.code == code, (choices, rating, text)
    assert check_answer(poll(PollKind.TEXT), None, None, "x" * TEXT_MAX_CHARS)[1] == "x" * TEXT_MAX_CHARS
    for state in (PollState.DRAFT, PollState.CLOSED):
        with pytest.raises(Conflict) as closed:
            check_answer(poll(PollKind.SINGLE, ("a", "b"), state), [0], None, None)
        assert closed.value.code == "poll_not_open"


def test_words_are_counted_under_one_form() -> None:
    assert normalize_word("  CLIMATE! ") == normalize_word("climate") == "climate"
    assert normalize_word("«Open   data»") == "open data"
    assert normalize_word("Ｄａｔａ") == "data", "NFKC"
    assert normalize_word("?!") == "?!", "all punctuation is kept rather than made empty"
    texts = ["Climate", "climate!", "Data", "AI", "ai", "AI."]
    tallied = results(poll(PollKind.TEXT), [answer(n, text=t) for n, t in enumerate(texts)], 2)
    assert tallied["total"]["words"] == [
        {"word": "ai", "count": 3},
        {"word": "climate", "count": 2},
        {"word": "data", "count": 1},
    ]


def test_results_by_group_and_region_hide_small_groups() -> None:
    target = poll(PollKind.SINGLE, ("yes", "no"))
    answers = [answer(n, (0,), group="government", country="SN") for n in range(4)]
    answers += [answer(10 + n, (1,), group="civil_society", country="FR") for n in range(2)]
    answers += [answer(20, (1,), group="civil_society", country="BR")]
    tallied = results(target, answers, 3)
    assert tallied["total"] == {"respondents": 7, "counts": [4, 3], "average": None, "words": []}
    groups = {g["name"]: g for g in tallied["by_group"]}
    assert groups["government"]["tally"]["counts"] == [4, 0]
    assert groups["civil_society"]["tally"]["counts"] == [0, 3]
    regions = {g["name"]: g for g in tallied["by_region"]}
    assert regions["africa"]["tally"]["counts"] == [4, 0]
    assert regions["europe"] == {"name": "europe", "suppressed": "fewer than 3", "tally": None}
    assert regions["americas"]["tally"] is None, "one answer: no figures at all"
    rating = results(poll(PollKind.RATING), [answer(n, (r,)) for n, r in enumerate((5, 4, 4, 1))], 2)
    assert rating["total"]["counts"] == [1, 0, 0, 2, 1] and rating["total"]["average"] == 3.5


# -- over real sockets ------------------------------------------------------------------------------------


async def staff(running: Running, role: Role = Role.MODERATOR) -> Client:
    return await running.join(await running.staff_token(role))


async def attendee(running: Running, name: str, **fields: Any) -> Client:
    return await running.join((await running.register(display_name=name, **fields))["token"])


async def counts(core: Hemicycle) -> tuple[int, int, list[tuple[Any, ...]]]:
    """What is stored: polls, answers, and every poll's state and texts."""
    async with core.store.engine.connect() as connection:
        polls = int(await connection.scalar(select(func.count()).select_from(models.Poll)) or 0)
        answers = int(await connection.scalar(select(func.count()).select_from(models.PollAnswer)) or 0)
        rows = (
            await connection.execute(
                select(models.Poll.id, models.Poll.state, models.Poll.question, models.Poll.results_shown)
            )
        ).all()
        answer_rows = (
            await connection.execute(select(models.PollAnswer.choices, models.PollAnswer.text))
        ).all()
    return polls, answers, sorted(tuple(r) for r in rows) + sorted(map(str, answer_rows))  # type: ignore[arg-type]


async def ok(client: Client, event: str, payload: Any = None) -> dict[str, Any]:
    reply = await client.call(event, payload)
    assert reply["ok"], reply
    data: dict[str, Any] = reply["data"]
    return data


async def refused(client: Client, event: str, payload: Any) -> str:
    reply = await client.call(event, payload)
    assert not reply["ok"], reply
    code: str = reply["error"]["code"]
    return code


async def test_a_poll_from_draft_to_shown_results(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url, report_min_group=2)
    async for running in run_app(settings):
        moderator = await staff(running)
        av = await staff(running, Role.AV)
        display = await staff(running, Role.DISPLAY)
        amina = await attendee(running, "Amina Diallo")
        kofi = await attendee(running, "Kofi Mensah", stakeholder_group="civil_society", country="GH")
        lena = await attendee(running, "Lena Vogel", stakeholder_group="civil_society", country="DE")

        # Prepared: staff see the draft, attendees nothing; it can be edited and deleted while a draft.
        draft = (
            await ok(moderator, "poll:create", {"kind": "single", "question": "Q", "options": ["a", "b"]})
        )["poll"]
        gone = (await ok(moderator, "poll:create", {"kind": "rating", "question": "Remove me"}))["poll"]
        await ok(moderator, "poll:delete", {"poll_id": gone["id"]})
        edited = await ok(
            moderator,
            "poll:edit",
            {
                "poll_id": draft["id"],
                "kind": "multiple",
                "question": "Quels sujets ?",
                "options": ["IA", "Données", "Climat"],
            },
        )
        assert edited["poll"]["question"] == "Quels sujets ?" and edited["poll"]["kind"] == "multiple"
        await av.wait_for(
            "polls:staff_changed", lambda d: [p["question"] for p in d["polls"]] == ["Quels sujets ?"]
        )
        assert (await ok(amina, "polls:get"))["polls"]["polls"] == []
        assert "staff" not in (await ok(amina, "polls:get")), "no staff view for attendees"

        # Opened: everyone sees the poll, results not yet.
        pid = draft["id"]
        await ok(moderator, "poll:open", {"poll_id": pid})
        opened = await amina.wait_for(
            "polls:changed", lambda d: any(p["state"] == "open" for p in d["polls"])
        )
        assert opened["polls"][0]["results"] is None
        await ok(amina, "poll:answer", {"poll_id": pid, "choices": [0]})
        replaced = await ok(amina, "poll:answer", {"poll_id": pid, "choices": [1, 2]})
        assert replaced["answer"]["choices"] == [1, 2]
        await ok(kofi, "poll:answer", {"poll_id": pid, "choices": [2]})
        await ok(lena, "poll:answer", {"poll_id": pid, "choices": [0, 2]})

        # Staff see counts live (never who answered), by group and region.
        live = await av.wait_for(
            "polls:staff_changed", lambda d: d["polls"][0]["results"]["total"]["respondents"] == 3
        )
        result = live["polls"][0]["results"]
        assert result["total"]["counts"] == [1, 1, 3], "answering again replaced, not added"
        assert "Amina" not in str(live) and "Kofi" not in str(live)
        groups = {g["name"]: g for g in result["by_group"]}
        assert groups["civil_society"]["tally"]["counts"] == [1, 0, 2]
        assert groups["government"] == {"name": "government", "suppressed": "fewer than 2", "tally": None}
        assert {g["name"] for g in result["by_region"]} == {"africa", "europe"}
        assert all(p["results"] is None for p in display.received("polls:changed")[-1]["polls"])

        # Shown: the room display and attendees get the results; the attendee's own answer is theirs.
        await ok(moderator, "poll:results", {"poll_id": pid, "shown": True})
        shown = await display.wait_for("polls:changed", lambda d: d["polls"][0]["results"] is not None)
        assert shown["polls"][0]["results"]["total"]["counts"] == [1, 1, 3]
        mine = await ok(amina, "polls:get")
        assert [a["choices"] for a in mine["mine"]] == [[1, 2]]
        await ok(moderator, "poll:close", {"poll_id": pid})
        assert await refused(amina, "poll:answer", {"poll_id": pid, "choices": [0]}) == "poll_not_open"
        await ok(moderator, "poll:results", {"poll_id": pid, "shown": False})
        await display.wait_for("polls:changed", lambda d: d["polls"][0]["results"] is None)

    # Kept across a restart, and in the session record.
    async for running in run_app(settings):
        admin = await staff(running, Role.ADMIN)
        again = await ok(admin, "polls:get")
        assert again["staff"]["polls"][0]["results"]["total"]["counts"] == [1, 1, 3]
        assert again["staff"]["polls"][0]["state"] == "closed"
        await _check_records(running, settings.secret, database_url, tmp_path)


async def _check_records(running: Running, secret: str, database_url: str, tmp_path: Path) -> None:
    """The poll in the session record (JSON, CSV part, HTML section, the CLI) and the event report."""
    session = await running.core.store.get_session(running.live_session)
    event = await running.core.store.get_event(running.event_id)
    reports = Reports(running.core)
    record = await reports.session_record(session)
    (entry,) = record["polls"]
    assert entry["question"] == "Quels sujets ?" and entry["options"] == ["IA", "Données", "Climat"]
    assert entry["results"]["total"]["counts"] == [1, 1, 3]
    assert "Amina" not in json.dumps(record["polls"]), "anonymous: counts only"
    rows = list(csv.DictReader(io.StringIO(render(record, "csv", "polls"))))
    total = {r["answer"]: r["count"] for r in rows if r["breakdown"] == "total"}
    assert total == {"respondents": "3", "IA": "1", "Données": "1", "Climat": "3"}
    small = [r for r in rows if r["breakdown"] == "stakeholder_group" and r["group"] == "government"]
    assert [(r["answer"], r["count"]) for r in small] == [("respondents", "fewer than 2")]
    html = render(record, "html", language="fr")
    assert "Quels sujets ?" in html and "Sondages" in html
    event_record = await reports.event_record(event)
    assert [p["question"] for p in event_record["polls"]] == ["Quels sujets ?"]
    assert event_record["polls"][0]["respondents"] == 3
    out = tmp_path / "polls.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEMICYCLE_") and k != "DATABASE_URL"}
    env.update(DATABASE_URL=database_url, HEMICYCLE_SECRET=secret, HEMICYCLE_DATA_DIR=str(tmp_path))
    env["HEMICYCLE_REPORT_MIN_GROUP"] = "2"  # as the server ran
    command = [
        sys.executable,
        "-m",
        "server",
        "report",
        str(session.id),
        "--format",
        "csv",
        "--part",
        "polls",
    ]
    done = await asyncio.create_subprocess_exec(*command, "--out", str(out), env=env)
    assert await done.wait() == 0
    assert out.read_bytes().decode("utf-8") == render(record, "csv", "polls")


async def test_refusals_change_nothing(hemicycle: Running) -> None:
    moderator = await staff(hemicycle)
    chair = await staff(hemicycle, Role.CHAIR)
    amina = await attendee(hemicycle, "Amina Diallo")
    made = {}
    for kind, options in (("single", ["a", "b"]), ("rating", []), ("text", [])):
        made[kind] = (
            await ok(moderator, "poll:create", {"kind": kind, "question": kind, "options": options})
        )["poll"]
    draft = (
        await ok(moderator, "poll:create", {"kind": "single", "question": "draft", "options": ["a", "b"]})
    )["poll"]
    for kind in ("single", "rating", "text"):
        await ok(moderator, "poll:open", {"poll_id": made[kind]["id"]})
    await ok(amina, "poll:answer", {"poll_id": made["single"]["id"], "choices": [0]})
    closed = (await ok(moderator, "poll:create", {"kind": "rating", "question": "closed"}))["poll"]
    await ok(moderator, "poll:open", {"poll_id": closed["id"]})
    await ok(moderator, "poll:close", {"poll_id": closed["id"]})

    # Another session's poll: made by that session's moderator.
    other_moderator = await hemicycle.join(
        await hemicycle.staff_token(Role.MODERATOR, hemicycle.scheduled_session), hemicycle.scheduled_session
    )
    elsewhere = (await ok(other_moderator, "poll:create", {"kind": "rating", "question": "elsewhere"}))[
        "poll"
    ]
    await ok(other_moderator, "poll:open", {"poll_id": elsewhere["id"]})

    before = await counts(hemicycle.core)
    single, rating, text = (made[k]["id"] for k in ("single", "rating", "text"))
    cases: list[tuple[Client, str, dict[str, Any], str]] = [
        (amina, "poll:answer", {"poll_id": closed["id"], "rating": 3}, "poll_not_open"),
        (amina, "poll:answer", {"poll_id": draft["id"], "choices": [0]}, "poll_not_open"),
        (amina, "poll:answer", {"poll_id": single, "choices": [7]}, "unknown_option"),
        (amina, "poll:answer", {"poll_id": rating, "rating": 6}, "invalid_rating"),
        (amina, "poll:answer", {"poll_id": rating, "rating": True}, "invalid_input"),
        (amina, "poll:answer", {"poll_id": text, "text": "x" * 10_000}, "answer_too_long"),
        (amina, "poll:answer", {"poll_id": text, "choices": [0]}, "invalid_input"),
        (amina, "poll:answer", {"poll_id": elsewhere["id"], "rating": 3}, "unknown_poll"),
        (amina, "poll:answer", {"poll_id": 2_000_000_000, "rating": 3}, "unknown_poll"),
        (amina, "poll:open", {"poll_id": draft["id"]}, "forbidden"),
        (amina, "poll:create", {"kind": "rating", "question": "mine"}, "forbidden"),
        (amina, "poll:results", {"poll_id": single, "shown": True}, "forbidden"),
        (chair, "poll:open", {"poll_id": draft["id"]}, "forbidden"),
        (moderator, "poll:answer", {"poll_id": single, "choices": [0]}, "forbidden"),
        (
            moderator,
            "poll:edit",
            {"poll_id": single, "kind": "single", "question": "new", "options": ["a", "b"]},
            "poll_not_draft",
        ),
        (moderator, "poll:delete", {"poll_id": single}, "poll_not_draft"),
        (moderator, "poll:open", {"poll_id": closed["id"]}, "poll_not_draft"),
        (moderator, "poll:close", {"poll_id": draft["id"]}, "poll_not_open"),
        (moderator, "poll:results", {"poll_id": draft["id"], "shown": True}, "poll_not_open"),
        (moderator, "poll:open", {"poll_id": elsewhere["id"]}, "unknown_poll"),
        (moderator, "poll:create", {"kind": "poll", "question": "x"}, "invalid_input"),
        (moderator, "poll:create", {"kind": "single", "question": "x", "options": ["one"]}, "invalid_input"),
    ]
    for number, (client, event, payload, code) in enumerate(cases):
        if client is amina and event == "poll:answer":
            # A fresh attendee each time, so that the answer limit does not answer first.
            client = await attendee(hemicycle, f"Attendee {number}")
        assert await refused(client, event, payload) == code, (event, payload)
        assert client.last("error")["code"] == code
    assert await counts(hemicycle.core) == before, "nothing stored, nothing changed"

    # Answering twice replaces: one answer per attendee per poll.
    await ok(amina, "poll:answer", {"poll_id": single, "choices": [1]})
    after = await counts(hemicycle.core)
    assert after[1] == before[1]
    state = await ok(moderator, "polls:get")
    totals = {p["id"]: p["results"]["total"] for p in state["staff"]["polls"]}
    assert totals[single]["counts"] == [0, 1]


async def test_answers_are_limited_per_attendee(hemicycle: Running) -> None:
    moderator = await staff(hemicycle)
    amina = await attendee(hemicycle, "Amina Diallo")
    pid = (await ok(moderator, "poll:create", {"kind": "rating", "question": "Q"}))["poll"]["id"]
    await ok(moderator, "poll:open", {"poll_id": pid})
    replies = [await amina.call("poll:answer", {"poll_id": pid, "rating": 1 + n % 5}) for n in range(12)]
    refusals = [r["error"]["code"] for r in replies if not r["ok"]]
    assert refusals and set(refusals) == {"rate_limited"}
    assert len(refusals) < 12 and replies[0]["ok"]
    assert (await counts(hemicycle.core))[1] == 1


async def test_answers_are_limited_across_processes(two_servers: tuple[list[str], Hemicycle]) -> None:
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state.value == "live")
    token = (await register_at(url_a, event.id, display_name="Flooding Fiona"))["token"]
    tabs = [Client(url_a), Client(url_b)]
    moderator = Client(url_a)
    watcher = Client(url_b)
    try:
        await moderator.connect(await mint(core, Role.MODERATOR, session.id), session.id)
        await watcher.connect(await mint(core, Role.AV, session.id), session.id)
        for c in (*tabs, moderator, watcher):
            if c in tabs:
                await c.connect(token, session.id)
            await c.wait_for("welcome")
        pid = (await ok(moderator, "poll:create", {"kind": "rating", "question": "Q"}))["poll"]["id"]
        await ok(moderator, "poll:open", {"poll_id": pid})
        # Each process's local bucket allows a burst of 5: together the tabs get 10 before the shared count
        # (10 per 20 s) refuses, whichever process they use.
        replies = []
        for n in range(8):
            for tab in tabs:
                replies.append(await tab.call("poll:answer", {"poll_id": pid, "rating": 1 + n % 5}))
        accepted = sum(1 for r in replies if r["ok"])
        assert accepted <= 10, accepted
        assert {r["error"]["code"] for r in replies if not r["ok"]} == {"rate_limited"}
        # Staff on the other process see the one answer counted once.
        seen = await watcher.wait_for(
            "polls:staff_changed",
            lambda d: d["polls"] and d["polls"][0]["results"]["total"]["respondents"] == 1,
        )
        assert sum(seen["polls"][0]["results"]["total"]["counts"]) == 1
    finally:
        for c in (*tabs, moderator, watcher):
            await c.close()
        await asyncio.sleep(0)
