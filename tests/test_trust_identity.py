"""Free identities: registrations limited per address and per browser, and per-participant limits that hold
across a participant's connections and the server's processes (in memory with one process, in Redis with
several)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from server.domain.questions import Question, QuestionState, Stage, counts_publicly
from server.domain.ratelimit import WindowRule
from server.domain.roles import Role
from server.keys import HUB_KEY
from server.limits import Limiter, MemoryCounters, RedisCounters, address_subject
from server.settings import Settings
from signaling.hub import QUEUE_WRITES_WINDOW

from .browser import open_page, send_registration
from .conftest import make_settings, run_app
from .helpers import REGISTRATION, Client, Running, free_port
from .test_http import count_participants

HAND = {"type": "statement", "language": "en"}


async def attendee(running: Running, name: str) -> Client:
    return await running.join((await running.register(display_name=name))["token"])


async def post_registration(
    running: Running, body: dict[str, Any], address: str | None = None
) -> tuple[int, dict[str, Any], str | None]:
    headers = {"X-Forwarded-For": f"203.0.113.9, {address}"} if address else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/api/events/{running.event_id}/participants",
            json={**REGISTRATION, **body},
            headers=headers,
        ) as response,
    ):
        return response.status, await response.json(), response.headers.get("Retry-After")


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Running]:
    async for running in run_app(settings):
        yield running


def test_window_rule_and_memory_limiter() -> None:
    rule = WindowRule(limit=3, seconds=10)
    assert rule.allows(3, 0, 5.0) and not rule.allows(4, 0, 5.0)
    # 3 hits late in the last window still weigh early in this one, less and less as it goes on.
    assert not rule.allows(1, 3, 12.0) and rule.allows(1, 3, 14.0)
    assert rule.retry_after(4, 0, 5.0) == pytest.approx(5 + 10 / 3)  # the next window, a third into it
    with pytest.raises(ValueError):
        WindowRule(limit=0, seconds=10)

    async def run() -> None:
        now = [100.0]
        limiter = Limiter(MemoryCounters(), "test", rule, clock=lambda: now[0])
        verdicts = [(await limiter.take("a")).allowed for _ in range(5)]
        assert verdicts == [True, True, True, False, False]
        assert (await limiter.take("b")).allowed, "another subject has its own allowance"
        refused = await limiter.take("a")
        now[0] += refused.retry_after + 0.01  # refusals did not push the time back
        assert (await limiter.take("a")).allowed

    asyncio.run(run())


def test_addresses_are_counted_per_ipv4_address_and_ipv6_64() -> None:
    assert address_subject("192.0.2.7") == "192.0.2.7"
    assert address_subject("::ffff:192.0.2.7") == "192.0.2.7"
    assert (
        address_subject("2001:db8:1:2:aaaa::1")
        == address_subject("2001:db8:1:2:bbbb::2")
        == "2001:db8:1:2::/64"
    )
    assert address_subject("2001:db8:1:3::1") != address_subject("2001:db8:1:2::1")
    assert address_subject(None) == "unknown"


async def test_registrations_are_limited_per_browser_and_per_address(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, registrations_per_address=6, registrations_per_browser=3, proxy_headers=True
    )
    async with serving(settings) as running:
        here = "198.51.100.4"
        # Refused registrations do not use up the allowance.
        for _ in range(4):
            status, body, _ = await post_registration(running, {"browser_id": "b-1", "country": "XX"}, here)
            assert (status, body["error"]["code"]) == (422, "invalid_input")
        for index in range(3):
            status, body, _ = await post_registration(
                running, {"browser_id": "b-1", "display_name": f"Amina {index}"}, here
            )
            assert status == 201, body
        before = await count_participants(running)
        status, body, retry_after = await post_registration(running, {"browser_id": "b-1"}, here)
        assert status == 429, body
        assert body["error"]["code"] == "rate_limited" and "browser" in body["error"]["message"]
        seconds = body["error"]["details"]["retry_after"]
        assert 1 <= seconds <= 2 * 600 and retry_after == str(seconds)
        assert await count_participants(running) == before, "a refused registration stores nothing"

        # Other browsers behind the same address share the address's allowance (3 used above).
        for index in range(3):
            status, body, _ = await post_registration(running, {"browser_id": f"other-{index}"}, here)
            assert status == 201, body
        status, body, _ = await post_registration(running, {"browser_id": "yet-another"}, here)
        assert (status, body["error"]["code"]) == (429, "rate_limited") and "network" in body["error"][
            "message"
        ]
        status, body, _ = await post_registration(
            running, {}, here
        )  # no browser id: the address still counts
        assert status == 429, body
        # Another address (the proxy's last X-Forwarded-For entry) is not held back.
        status, body, _ = await post_registration(running, {"browser_id": "b-2"}, "198.51.100.5")
        assert status == 201, body


async def test_registration_limits_hold_across_processes(tmp_path: Path, fresh_redis_url: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(
                serving(
                    make_settings(
                        tmp_path / name,
                        redis_url=fresh_redis_url,
                        redis_channel="trust-identity-register",
                        registrations_per_address=6,
                        registrations_per_browser=4,
                    )
                )
            )
            for name in ("a", "b")
        ]
        statuses = [
            (await post_registration(apps[index % 2], {"browser_id": "one-browser"}))[0] for index in range(6)
        ]
        assert statuses == [201] * 4 + [429] * 2, "the two processes count one browser together"
        statuses = [(await post_registration(apps[index % 2], {}))[0] for index in range(4)]
        assert statuses == [201] * 2 + [429] * 2, "and one address together"


async def test_an_attendees_tabs_share_the_events_allowance(tmp_path: Path) -> None:
    async with serving(replace(make_settings(tmp_path), events_per_second=5)) as running:  # bursts of 20
        token = (await running.register())["token"]
        tabs = [await running.join(token) for _ in range(2)]
        bystander = await running.join((await running.register(display_name="Bystander"))["token"])
        replies = [await tabs[index % 2].call("presence:get") for index in range(30)]
        refused = [r for r in replies if not r["ok"]]
        assert refused and {r["error"]["code"] for r in refused} == {"rate_limited"}
        assert len(refused) >= 5, "15 events from each tab are more than the 20 both may send at once"
        assert all(tab.sio.connected for tab in tabs), "limited, not a flood"
        assert (await bystander.call("presence:get"))["ok"], "another participant keeps their allowance"


async def test_a_participants_writes_are_counted_across_processes(
    tmp_path: Path, pg_database_url: str, fresh_redis_url: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(
                serving(
                    make_settings(
                        tmp_path / name,
                        pg_database_url,
                        redis_url=fresh_redis_url,
                        redis_channel="trust-identity-writes",
                    )
                )
            )
            for name in ("a", "b")
        ]
        token = (await apps[0].register(display_name="Two Tabs"))["token"]
        tabs = [await app.join(token) for app in apps]
        # Sent together, so that all 24 fall inside the shared window however slowly a loaded machine answers
        # (one after the other, they took longer than the window there and the first ones had left it).
        calls = [("hand:raise", HAND) if index % 4 < 2 else ("hand:lower", {}) for index in range(24)]
        replies = await asyncio.gather(*(tabs[index % 2].call(*call) for index, call in enumerate(calls)))
        codes = [reply["ok"] or reply["error"]["code"] for reply in replies]
        # Each process alone would let 8 through (its bucket's burst): 16 in all without the shared count.
        assert codes.count("rate_limited") >= 24 - QUEUE_WRITES_WINDOW.limit, codes
        # Each tab sent 12, more than the 10 the window allows the person: both processes refused some.
        assert "rate_limited" in codes[::2] and "rate_limited" in codes[1::2], "refused on both processes"
        other = await apps[1].join((await apps[1].register(display_name="Patient"))["token"])
        assert (await other.call("hand:raise", HAND))["ok"], "another participant is not limited"


def test_votes_from_younger_registrations_are_counted_apart() -> None:
    asked = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert counts_publicly(asked - timedelta(days=1), asked) and counts_publicly(asked, asked)
    assert not counts_publicly(asked + timedelta(seconds=1), asked)
    question = Question(
        1, 1, 1, "Asker", "", None, None, False, "", "Why?", QuestionState.APPROVED, Stage.NONE, False, asked,
        voters=frozenset({2, 3, 4}), late_voters=frozenset({4}),
    )  # fmt: skip
    assert (question.votes, question.late_votes) == (2, 1)
    assert question.public()["votes"] == 2 and "late_votes" not in question.public()
    assert question.staff()["late_votes"] == 1 and question.staff()["votes"] == 2


async def test_fresh_registrations_do_not_stuff_a_questions_public_count(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    asker = await attendee(hemicycle, "Asker")
    early = [
        await hemicycle.join((await hemicycle.register(display_name=f"Early {i}"))["token"]) for i in range(2)
    ]
    posted = await asker.call("question:post", {"text": "Who funds the action lines?"})
    assert posted["ok"], posted
    qid = posted["data"]["question"]["id"]
    if posted["data"]["question"]["state"] == "pending":
        assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    # Registered after the question was asked: their votes are kept, but counted apart.
    late = [
        await hemicycle.join((await hemicycle.register(display_name=f"Sock {i}"))["token"]) for i in range(3)
    ]
    for voter in early:
        assert (await voter.call("question:vote", {"question_id": qid}))["ok"]
    for voter in late:
        reply = await voter.call("question:vote", {"question_id": qid})
        assert reply["ok"] and reply["data"] == {"question_id": qid, "votes": 2, "voted": True}, reply

    desk = hemicycle.server.app[HUB_KEY].desk
    state = await desk.state(hemicycle.live_session)
    public = next(q for q in desk.public_view(state)["questions"] if q["id"] == qid)
    assert public["votes"] == 2 and "late_votes" not in public
    staff = next(q for q in desk.staff_view(state)["questions"] if q["id"] == qid)
    assert (staff["votes"], staff["late_votes"]) == (2, 3)
    # A late voter can take their vote back like anyone.
    assert (await late[0].call("question:unvote", {"question_id": qid}))["ok"]
    state = await desk.state(hemicycle.live_session)
    assert state.by_id(qid) is not None and state.by_id(qid).late_votes == 2  # type: ignore[union-attr]
    # The moderators' export carries both figures.
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{hemicycle.url}/api/sessions/{hemicycle.live_session}/questions",
            headers={"Authorization": f"Bearer {await hemicycle.staff_token(Role.MODERATOR)}"},
        ) as response,
    ):
        exported = next(q for q in (await response.json())["questions"] if q["id"] == qid)
    assert (exported["votes"], exported["late_votes"]) == (2, 2)


async def test_the_registration_page_says_how_long_to_wait(tmp_path: Path, browser: Browser) -> None:
    async with serving(make_settings(tmp_path, registrations_per_address=1)) as running:
        await running.register(display_name="First")  # this address's one registration in the window
        errors: list[str] = []
        page = await open_page(browser, f"{running.url}/s/{running.live_session}", errors)
        await send_registration(page, "Second Person")
        error = page.locator("[data-testid=error-message][data-code=rate_limited]")
        await expect(error).to_have_text(re.compile(r"Try again in \d+ minutes\."))
        await expect(page.get_by_test_id("register-form")).to_be_visible()


async def test_without_redis_the_limits_hold_per_process(caplog: pytest.LogCaptureFixture) -> None:
    """Redis down: registrations and votes go on, counted in this process's memory, with one warning."""
    counters = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", "trust-identity-down")
    limiter = Limiter(counters, "test", WindowRule(limit=2, seconds=60))
    try:
        verdicts = [(await limiter.take("someone")).allowed for _ in range(3)]
    finally:
        await counters.close()
    assert verdicts == [True, True, False]
    warnings = [r for r in caplog.records if "Redis is not answering" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
