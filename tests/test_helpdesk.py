"""The help desk over real sockets: an attendee's thread reaches the AV desk and moderators with its figures,
staff answer (free text or a prepared answer in the attendee's language) and close; bad input changes nothing;
threads survive a restart."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain import helpdesk as rules
from server.domain.errors import Conflict, HemicycleError, InvalidInput
from server.domain.helpdesk import Figures, HelpCategory, HelpThread, ThreadState
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.keys import HUB_KEY
from server.service import Hemicycle

from .conftest import make_settings, run_app
from .helpers import Client, Running, mint, register_at
from .test_multiprocess import two_servers

__all__ = ["two_servers"]  # the fixture, shared with tests/test_multiprocess.py

FIGURES = {
    "rtt_ms": 182.5,
    "loss_pct": 7.2,
    "bitrate_kbps": 96,
    "audio_level_dbov": -63.0,
    "browser": "Firefox",
    "browser_version": "128.0",
    "channel": "fr",
    "connection": "connected",
}


async def staff(running: Running, role: Role, session_id: int | None = None) -> Client:
    return await running.join(await running.staff_token(role, session_id), session_id)


async def attendee(running: Running, name: str = "Amina Diallo") -> tuple[Client, int]:
    registered = await running.register(display_name=name)
    return await running.join(registered["token"]), int(registered["participant"]["id"])


async def stored(running: Running) -> tuple[int, int]:
    """(threads, messages) in the database."""
    async with running.core.store.engine.connect() as connection:
        threads = await connection.scalar(select(func.count()).select_from(models.HelpThread))
        messages = await connection.scalar(select(func.count()).select_from(models.HelpMessage))
        return int(threads or 0), int(messages or 0)


def refused(reply: dict[str, Any], code: str) -> None:
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == code, reply


async def open_thread(client: Client, **fields: Any) -> dict[str, Any]:
    payload = {
        "category": "no_sound",
        "language": "en",
        "text": "I hear nothing",
        "figures": FIGURES,
        **fields,
    }
    reply = await client.call("help:open", payload)
    assert reply["ok"], reply
    thread: dict[str, Any] = reply["data"]["thread"]
    return thread


# -- the rules, without a server ----------------------------------------------------------------------------


def test_figures_are_checked_not_cleaned_up() -> None:
    assert Figures.check(FIGURES).public() == {**FIGURES, "bitrate_kbps": 96.0}
    assert Figures.check(None) == Figures()
    assert Figures.check({}) == Figures()
    for bad in (
        {"rtt_ms": math.nan},
        {"rtt_ms": math.inf},
        {"loss_pct": 101},
        {"rtt_ms": 10**12},
        {"audio_level_dbov": 3},
        {"rtt_ms": "fast"},
        {"rtt_ms": True},
        {"browser": ["Firefox"]},
        {"browser": "x" * 41},
        {"channel": "klingon"},
        {"connection": "superb"},
        {"cpu": 3},
        "figures",
        [1, 2],
    ):
        with pytest.raises(InvalidInput):
            Figures.check(bad)


def test_categories_languages_texts_and_prepared_answers() -> None:
    assert rules.check_category("microphone") is HelpCategory.MICROPHONE
    for bad in ("help me", "", None, 3, "NO_SOUND"):
        with pytest.raises(InvalidInput) as refusal:
            rules.check_category(bad)
        assert refusal.value.details == {"field": "category"}
    for bad_language in ("de", "EN", None, 1):
        with pytest.raises(InvalidInput):
            rules.check_page_language(bad_language)
    assert rules.clean_help_text("  ", required=False) == ""
    assert rules.clean_help_text(None, required=False) == ""
    assert rules.clean_help_text(" no\nsound ", required=True) == "no sound"
    assert len(rules.clean_help_text("x" * rules.HELP_TEXT_MAX_CHARS, required=True)) == 1000
    for bad_text in ("", "x" * 1001, "x" * 10_000, 42):
        with pytest.raises(InvalidInput):
            rules.clean_help_text(bad_text, required=True)
    # Every prepared answer in every page language, and none is the English one passed off as another.
    for key, texts in rules.PREPARED_ANSWERS.items():
        assert set(texts) == set(rules.PAGE_LANGUAGES), key
        assert len(set(texts.values())) == len(texts), key
    assert rules.prepared_answer("reload", "fr").startswith("Veuillez recharger")
    with pytest.raises(InvalidInput):
        rules.prepared_answer("go away", "en")


def test_states_follow_who_spoke_last_and_closed_is_final() -> None:
    from datetime import UTC, datetime

    thread = HelpThread(
        id=1,
        session_id=1,
        participant_id=2,
        participant_name="A",
        category=HelpCategory.OTHER,
        language="en",
        state=ThreadState.OPEN,
        opened_at=datetime(2026, 1, 1, tzinfo=UTC),
        figures=Figures(),
    )
    assert rules.after_message(thread, from_staff=True) is ThreadState.ANSWERED
    assert rules.after_message(thread, from_staff=False) is ThreadState.OPEN
    closed = HelpThread(**{**thread.__dict__, "state": ThreadState.CLOSED})
    for from_staff in (True, False):
        with pytest.raises(Conflict) as refusal:
            rules.after_message(closed, from_staff)
        assert refusal.value.code == "thread_closed"
    with pytest.raises(Conflict):
        rules.may_close(closed)
    rules.may_open(0)
    with pytest.raises(Conflict) as already:
        rules.may_open(1)
    assert already.value.code == "help_already_open"
    assert "figures" not in thread.record() and "figures" not in thread.mine()
    assert thread.staff()["figures"]["rtt_ms"] is None


# -- over real sockets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_thread_reaches_av_and_moderators_only_and_is_answered_and_closed(
    database_url: str, tmp_path: Path
) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        av = await staff(running, Role.AV)
        moderator = await staff(running, Role.MODERATOR)
        # Staff who do not answer help requests: they are not told of them either.
        others = {role: await staff(running, role) for role in (Role.CHAIR, Role.CAPTIONER, Role.INTERPRETER)}
        amina, amina_id = await attendee(running)
        other, _ = await attendee(running, "Kofi Mensah")

        thread = await open_thread(amina, language="fr", category="no_sound")
        thread_id = thread["id"]
        assert thread["state"] == "open" and thread["category"] == "no_sound"
        assert "figures" not in thread, "the attendee's own view leaves the figures to staff"
        assert [m["text"] for m in thread["messages"]] == ["I hear nothing"]

        seen = await av.wait_for("help:staff", lambda t, i=thread_id: t["id"] == i)
        assert seen["figures"] == {**FIGURES, "bitrate_kbps": 96.0}
        assert seen["by"] == {"id": amina_id, "name": "Amina Diallo"}
        await moderator.wait_for("help:staff", lambda t, i=thread_id: t["id"] == i)
        queue = await av.call("help:get")
        assert [t["id"] for t in queue["data"]["queue"]] == [thread["id"]]

        # A prepared answer comes in the attendee's page language; the thread is answered.
        answered = await av.call("help:reply", {"thread_id": thread["id"], "answer": "check_channel"})
        assert answered["ok"], answered
        assert answered["data"]["thread"]["state"] == "answered"
        words = rules.PREPARED_ANSWERS["check_channel"]["fr"]
        mine = await amina.wait_for("help:mine", lambda t: t["state"] == "answered")
        assert mine["messages"][-1]["text"] == words
        assert mine["messages"][-1]["from"] == "staff" and mine["messages"][-1]["answer"] == "check_channel"

        # The attendee writes again: open again, and staff see it; then a free-text answer and the close.
        again = await amina.call("help:message", {"thread_id": thread["id"], "text": "Still nothing on fr"})
        assert again["ok"] and again["data"]["thread"]["state"] == "open", again
        await moderator.wait_for("help:staff", lambda t: len(t["messages"]) == 3)
        free = await moderator.call("help:reply", {"thread_id": thread["id"], "text": "Booth restarted"})
        assert free["ok"], free
        closed = await moderator.call("help:close", {"thread_id": thread["id"]})
        assert closed["ok"] and closed["data"]["thread"]["state"] == "closed", closed
        assert closed["data"]["thread"]["closed_by"]
        await amina.wait_for("help:mine", lambda t: t["state"] == "closed")
        assert (await av.call("help:get"))["data"]["queue"] == [], "a closed request leaves the queue"
        mine_now = (await amina.call("help:get"))["data"]
        assert "queue" not in mine_now and mine_now["mine"][0]["state"] == "closed"

        # Nobody else heard a word of it: not the other attendee, not the session room, not the rest of staff.
        assert not [e for e, _ in other.events if e.startswith("help:")]
        for role, colleague in others.items():
            assert not colleague.received("help:staff"), f"the {role.value} was sent the request"
        assert (await other.call("help:get"))["data"] == {"mine": []}

        # Closed: a new request may open.
        assert (await open_thread(amina, category="other", text=""))["messages"] == []
        assert await stored(running) == (2, 4)


async def test_bad_input_is_refused_and_changes_nothing(hemicycle: Running) -> None:
    av = await staff(hemicycle, Role.AV)
    chair = await staff(hemicycle, Role.CHAIR)
    amina, _ = await attendee(hemicycle)
    kofi, _ = await attendee(hemicycle, "Kofi Mensah")
    base = {"category": "no_picture", "language": "en"}

    for payload, field in (
        ({**base, "text": "x" * 10_000}, "text"),
        ({**base, "text": "x" * 1001}, "text"),
        ({**base, "category": "bored"}, "category"),
        ({**base, "language": "de"}, "language"),
        ({**base, "figures": {"rtt_ms": "NaN"}}, "figures.rtt_ms"),
        ({**base, "figures": {"rtt_ms": 1e300}}, "figures.rtt_ms"),
        ({**base, "figures": {"loss_pct": -1}}, "figures.loss_pct"),
        ({**base, "figures": {"bitrate_kbps": [1]}}, "figures.bitrate_kbps"),
        ({**base, "figures": {"browser": {"name": "x"}}}, "figures.browser"),
        ({**base, "figures": {"channel": "tlh"}}, "figures.channel"),
        ({**base, "figures": {"gpu": "x"}}, "figures.gpu"),
        ({**base, "figures": "fast"}, "figures"),
    ):
        reply = await amina.call("help:open", payload)
        refused(reply, "invalid_input")
        assert reply["error"]["details"]["field"] == field, (payload, reply)
    # NaN itself cannot be sent as JSON by a client library, but a page could send it as a bare token.
    refused(await amina.call("help:open", {**base, "figures": {"rtt_ms": float("nan")}}), "invalid_input")
    assert await stored(hemicycle) == (0, 0)

    thread = await open_thread(amina)
    assert await stored(hemicycle) == (1, 1)
    # One open request at a time.
    refused(await amina.call("help:open", base), "help_already_open")
    # Another attendee may neither write in nor close Amina's thread, nor learn that it exists.
    refused(await kofi.call("help:message", {"thread_id": thread["id"], "text": "me too"}), "unknown_thread")
    refused(await kofi.call("help:close", {"thread_id": thread["id"]}), "forbidden")
    refused(await amina.call("help:close", {"thread_id": thread["id"]}), "forbidden")
    refused(await amina.call("help:reply", {"thread_id": thread["id"], "text": "self-help"}), "forbidden")
    refused(await kofi.call("help:message", {"thread_id": 999_999, "text": "hello"}), "unknown_thread")
    # Staff other than AV and moderators do not handle requests; staff do not open them.
    refused(await chair.call("help:reply", {"thread_id": thread["id"], "text": "hi"}), "forbidden")
    refused(await chair.call("help:close", {"thread_id": thread["id"]}), "forbidden")
    refused(await av.call("help:open", base), "forbidden")
    refused(await av.call("help:reply", {"thread_id": thread["id"], "answer": "nope"}), "invalid_input")
    refused(await av.call("help:reply", {"thread_id": thread["id"], "text": "x" * 10_000}), "invalid_input")
    refused(await av.call("help:reply", {"thread_id": thread["id"]}), "invalid_input")
    refused(await av.call("help:reply", {"thread_id": "1", "text": "hi"}), "invalid_input")
    assert await stored(hemicycle) == (1, 1)

    # A thread of another session is unknown here.
    other_session = hemicycle.scheduled_session
    av_elsewhere = await staff(hemicycle, Role.AV, other_session)
    refused(
        await av_elsewhere.call("help:reply", {"thread_id": thread["id"], "text": "hi"}), "unknown_thread"
    )
    refused(await av_elsewhere.call("help:close", {"thread_id": thread["id"]}), "unknown_thread")
    assert (await av_elsewhere.call("help:get"))["data"]["queue"] == []
    assert not av_elsewhere.received("help:staff"), "staff of another session see nothing"

    # Closed: nobody writes in it any more.
    assert (await av.call("help:close", {"thread_id": thread["id"]}))["ok"]
    refused(await av.call("help:close", {"thread_id": thread["id"]}), "thread_closed")
    refused(await av.call("help:reply", {"thread_id": thread["id"], "text": "late"}), "thread_closed")
    refused(await amina.call("help:message", {"thread_id": thread["id"], "text": "late"}), "thread_closed")
    assert await stored(hemicycle) == (1, 1)


async def test_a_flood_of_requests_is_limited_per_attendee(hemicycle: Running) -> None:
    registered = await hemicycle.register(display_name="Amina Diallo")
    amina = await hemicycle.join(registered["token"])
    second_tab = await hemicycle.join(registered["token"])
    thread = await open_thread(amina, text="")
    codes = []
    for index in range(rules.HELP_WRITES.limit + 3):
        tab = amina if index % 2 else second_tab
        reply = await tab.call("help:message", {"thread_id": thread["id"], "text": f"hello {index}"})
        codes.append("ok" if reply["ok"] else reply["error"]["code"])
    allowed = codes.count("ok")
    # The opening counts too; a window's edge crossed during the test may let one more through.
    assert allowed in (rules.HELP_WRITES.limit - 1, rules.HELP_WRITES.limit), codes
    assert codes[:allowed] == ["ok"] * allowed and set(codes[allowed:]) == {"rate_limited"}, codes
    refusal = await amina.call("help:message", {"thread_id": thread["id"], "text": "again"})
    refused(refusal, "rate_limited")
    assert refusal["error"]["details"]["retry_after"] >= 1
    assert await stored(hemicycle) == (1, allowed)
    # Another attendee's allowance is their own.
    kofi, _ = await attendee(hemicycle, "Kofi Mensah")
    await open_thread(kofi)


async def test_removed_or_banned_people_cannot_ask(hemicycle: Running) -> None:
    hub = hemicycle.server.app[HUB_KEY]
    core = hemicycle.core
    moderator, _ = await core.authenticate(await hemicycle.staff_token(Role.MODERATOR))
    for action in ("remove", "ban"):
        registered = await hemicycle.register(display_name=f"To {action}")
        principal, _ = await core.authenticate(registered["token"])
        person = principal.participant.id
        if action == "remove":
            await hub.moderation.actions.remove(moderator, hemicycle.live_session, person, "off topic", None)
        else:
            await hub.moderation.actions.ban(moderator, hemicycle.live_session, person, "abuse")
        with pytest.raises(HemicycleError) as standing:
            await hub.standing.check(principal, hemicycle.live_session)
        with pytest.raises(HemicycleError) as refusal:
            await hub.help.desk.open(principal, hemicycle.live_session, "no_sound", "en", "help", None)
        assert refusal.value.code == standing.value.code, (refusal.value.code, standing.value.code)
        assert refusal.value.code == {"remove": "not_admitted", "ban": "token_revoked"}[action]
    assert await stored(hemicycle) == (0, 0)


async def test_threads_survive_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async for first in run_app(settings):
        registered = await first.register(display_name="Amina Diallo")
        token = registered["token"]
        amina = await first.join(token)
        thread = await open_thread(amina)
        first_av = await staff(first, Role.AV)
        assert (await first_av.call("help:reply", {"thread_id": thread["id"], "answer": "looking"}))["ok"]
    async for second in run_app(settings):
        again = await second.join(token)
        mine = (await again.call("help:get"))["data"]["mine"]
        assert [(t["id"], t["state"], len(t["messages"])) for t in mine] == [(thread["id"], "answered", 2)]
        av = await staff(second, Role.AV)
        queue = (await av.call("help:get"))["data"]["queue"]
        assert queue[0]["figures"]["rtt_ms"] == FIGURES["rtt_ms"]
        assert (await again.call("help:message", {"thread_id": thread["id"], "text": "thanks"}))["ok"]
        await av.wait_for("help:staff", lambda t: len(t["messages"]) == 3)


# -- two processes over Redis -------------------------------------------------------------------------------


async def test_threads_and_the_limit_span_two_processes(two_servers: tuple[list[str], Hemicycle]) -> None:
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    registered = await register_at(url_b, event.id, display_name="Amina Diallo")
    clients: list[Client] = []
    try:
        av, on_a, on_b = Client(url_a), Client(url_a), Client(url_b)
        clients += [av, on_a, on_b]
        await av.connect(await mint(core, Role.AV, session.id), session.id)
        await on_a.connect(registered["token"], session.id)
        await on_b.connect(registered["token"], session.id)
        for client in clients:
            await client.wait_for("welcome")
        # Opened through B: the AV desk on A gets it with the figures, and Amina's tab on A gets hers.
        thread = await open_thread(on_b)
        thread_id = thread["id"]
        staffed = await av.wait_for("help:staff", lambda t: t["id"] == thread_id)
        assert staffed["figures"]["channel"] == "fr"
        assert (await av.call("help:reply", {"thread_id": thread_id, "answer": "reload"}))["ok"]
        await on_a.wait_for("help:mine", lambda t: t["state"] == "answered")
        await on_b.wait_for("help:mine", lambda t: t["state"] == "answered")
        # One allowance across both processes: tabs on A and B together get no more than one tab would.
        codes = []
        for index in range(rules.HELP_WRITES.limit + 2):
            tab = on_a if index % 2 else on_b
            reply = await tab.call("help:message", {"thread_id": thread_id, "text": f"hello {index}"})
            codes.append("ok" if reply["ok"] else reply["error"]["code"])
        allowed = codes.count("ok")
        assert allowed in (rules.HELP_WRITES.limit - 1, rules.HELP_WRITES.limit), codes
        assert set(codes[allowed:]) == {"rate_limited"}, codes
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_requests_opened_at_once_from_two_tabs_leave_one(database_url: str, tmp_path: Path) -> None:
    """Both tabs count "no open request" before either writes: the database's unique index keeps one."""
    async for running in run_app(make_settings(tmp_path, database_url)):
        registered = await running.register(display_name="Amina Diallo")
        tabs = [await running.join(registered["token"]) for _ in range(4)]
        payload = {"category": "no_picture", "language": "en"}
        replies = await asyncio.gather(*(tab.call("help:open", payload) for tab in tabs))
        codes = sorted("ok" if r["ok"] else r["error"]["code"] for r in replies)
        assert codes == ["help_already_open"] * 3 + ["ok"], codes
        assert await stored(running) == (1, 0)
