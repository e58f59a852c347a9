"""Accessibility in Chromium: axe-core on every page, in every role and in the states that matter.

axe-core's rules for WCAG 2.0 and 2.1, levels A and AA, and its best practices run on each page; a violation
whose impact is serious or critical fails the test. Every finding, minor ones included, is printed with the
elements it concerns, so one run shows all that is left to fix. The engine comes from the
axe-playwright-python package (pinned in pyproject.toml): nothing is fetched while the tests run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, send_registration
from .conftest import make_settings, run_app
from .helpers import Client, Running, mint

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING = frozenset({"serious", "critical"})
HAND = {"type": "statement", "language": "en"}
TABLET = {"width": 1024, "height": 768}
ROOM_SCREEN = {"width": 1920, "height": 1080}

pytestmark = pytest.mark.timeout(300)


class Audit:
    """axe on each page in turn; the findings of all pages are kept, so one run shows every one of them."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.failing: list[str] = []

    async def check(self, page: Page, state: str) -> None:
        results = await self.axe.run(
            page,
            options={
                "runOnly": {"type": "tag", "values": TAGS},
                # Experimental in axe, so off by default, but it catches a real fault: a button whose spoken
                # name does not contain its visible text cannot be operated by speech ("click +1 min").
                "rules": {"label-content-name-mismatch": {"enabled": True}},
                "resultTypes": ["violations"],
            },
        )
        for violation in results.response["violations"]:
            text = describe(state, violation)
            print(text)  # shown by pytest when the test fails, minor findings included
            if violation["impact"] in FAILING:
                self.failing.append(text)
        for unsure in results.response.get("incomplete", []):
            # What axe cannot decide alone (text over a video, an icon's contrast): for a person to look at.
            targets = ", ".join(" ".join(map(str, node["target"])) for node in unsure["nodes"][:3])
            print(f"[{state}] needs review: {unsure['id']} ({unsure['impact']}): {targets}")

    def assert_clean(self) -> None:
        found = "\n\n".join(self.failing)
        assert not self.failing, f"serious or critical accessibility violations:\n\n{found}"


def describe(state: str, violation: dict[str, Any]) -> str:
    """One violation, readable: the page and state, the rule, and each element with what is wrong with it."""
    lines = [
        f"[{state}] {violation['id']} ({violation['impact']}): {violation['help']}",
        f"    {violation['helpUrl']}",
    ]
    for node in violation["nodes"]:
        target = " ".join(" >>> ".join(t) if isinstance(t, list) else t for t in node["target"])
        lines.append(f"  - {target}")
        for check in node.get("any", []) + node.get("all", []) + node.get("none", []):
            lines.append(f"      {check['message']}")
    return "\n".join(lines)


async def connected(page: Page) -> None:
    await expect(page.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)


async def staff_page(running: Running, browser: Browser, role: Role, errors: list[str]) -> Page:
    page = await open_page(browser, await link(running, role), errors)
    if role is not Role.ADMIN:
        await connected(page)
    return page


async def attendee_client(running: Running, name: str, **fields: Any) -> tuple[Client, dict[str, Any]]:
    registered = await running.register(display_name=name, **fields)
    return await running.join(registered["token"]), registered


async def test_public_pages_forms_and_refusals(hemicycle: Running, browser: Browser) -> None:
    audit = Audit()
    errors: list[str] = []

    index = await open_page(browser, hemicycle.url + "/", errors)
    await expect(index.get_by_test_id("events")).to_contain_text("WSIS+20")
    await audit.check(index, "index")

    admin = await staff_page(hemicycle, browser, Role.ADMIN, errors)
    await expect(admin.get_by_test_id("sessions")).to_contain_text("Opening ceremony")
    await audit.check(admin, "event admin")

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    form = attendee.get_by_test_id("register-form")
    await expect(form).to_be_visible()
    await audit.check(attendee, "attendee, before registering")
    await form.locator("button[type=submit]").click()
    await expect(form.locator("[data-field=display_name]")).to_be_visible()
    await audit.check(attendee, "attendee, registration with errors")

    # Links that do not work: an expired staff link, a forged one, an attendee's link on the record page.
    expired = await mint(hemicycle.core, Role.MODERATOR, hemicycle.live_session, ttl=timedelta(seconds=-5))
    refused = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/moderator#token={expired}", []
    )
    await expect(refused.get_by_test_id("error-message")).to_contain_text("expired", ignore_case=True)
    await audit.check(refused, "moderator, expired link")
    forged = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/chair#token=abc.def.ghi", []
    )
    await expect(forged.get_by_test_id("error-message")).to_be_visible()
    await audit.check(forged, "chair, forged link")

    registered = await hemicycle.register(display_name="Curious attendee")
    report_refused = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/report#token={registered['token']}", []
    )
    await expect(report_refused.get_by_test_id("error-message")).to_be_visible()
    await audit.check(report_refused, "report, refused")

    audit.assert_clean()
    assert not real_errors(errors), errors


async def test_session_pages_in_every_role_during_a_turn(hemicycle: Running, browser: Browser) -> None:
    audit = Audit()
    errors: list[str] = []
    moderator = await staff_page(hemicycle, browser, Role.MODERATOR, errors)
    await audit.check(moderator, "moderator, empty session")

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    await audit.check(attendee, "attendee, registered")
    await attendee.get_by_test_id("raise-hand").click()
    await expect(attendee.get_by_test_id("my-place")).to_have_attribute("data-place", "1")
    await audit.check(attendee, "attendee, hand raised")

    # More people in line, questions in every state, and someone at the floor.
    kofi, _ = await attendee_client(hemicycle, "Kofi Mensah", country="GH")
    li, _ = await attendee_client(hemicycle, "Li Wei", country="CN", stakeholder_group="private_sector")
    staff = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    assert (await kofi.call("hand:raise", {"type": "question", "language": "fr"}))["ok"]
    raised = await li.call("hand:raise", HAND)
    assert raised["ok"], raised
    questions = []
    for text in ("How is the follow-up funded?", "What about the youth track?", "Off topic"):
        posted = await kofi.call("question:post", {"text": text})
        questions.append(posted["data"]["question"]["id"])
    for qid in questions[:2]:
        assert (await staff.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    assert (await staff.call("question:relay", {"question_id": questions[0], "stage": "forwarded"}))["ok"]
    assert (await staff.call("question:relay", {"question_id": questions[0], "stage": "read"}))["ok"]
    assert (await staff.call("floor:grant", {"entry_id": raised["data"]["entry"]["id"]}))["ok"]

    await expect(moderator.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await expect(moderator.get_by_test_id("queue").get_by_test_id("queue-entry")).to_have_count(2)
    await expect(moderator.get_by_test_id("moderation-question")).not_to_have_count(0)
    await audit.check(moderator, "moderator, queue, questions and a speaker")
    await expect(attendee.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await expect(attendee.get_by_test_id("reading")).to_be_visible()
    await audit.check(attendee, "attendee, waiting while someone speaks")

    # A dialog open over the console.
    await moderator.get_by_test_id("queue-entry").first.get_by_test_id("remove").click()
    await expect(moderator.get_by_test_id("remove-dialog")).to_be_visible()
    await audit.check(moderator, "moderator, remove dialog")
    await moderator.keyboard.press("Escape")
    await moderator.get_by_test_id("state-end").click()
    await expect(moderator.get_by_test_id("end-session-dialog")).to_be_visible()
    await audit.check(moderator, "moderator, end session dialog")
    await moderator.keyboard.press("Escape")
    await expect(moderator.get_by_test_id("end-session-dialog")).to_have_count(0)

    chair = await staff_page(hemicycle, browser, Role.CHAIR, errors)
    await chair.set_viewport_size(TABLET)
    await expect(chair.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await audit.check(chair, "chair, tablet, a speaker and a question read")
    await chair.context.close()  # fewer pages at once: the machine running the tests may be busy

    for role in (Role.AV, Role.CAPTIONER, Role.INTERPRETER):
        page = await staff_page(hemicycle, browser, role, errors)
        await expect(page.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
        await audit.check(page, f"{role.value}, a speaker")
        await page.context.close()

    display = await staff_page(hemicycle, browser, Role.DISPLAY, errors)
    await display.set_viewport_size(ROOM_SCREEN)
    await expect(display.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await expect(display.get_by_test_id("reading")).to_be_visible()
    await audit.check(display, "room display, a speaker and a question read")

    # The attendee is given the floor: the microphone controls and the countdown.
    first = moderator.get_by_test_id("queue").get_by_test_id("queue-entry").filter(has_text="Zoë Okafor")
    await first.get_by_test_id("grant").click()
    await expect(moderator.get_by_test_id("floor-speaker")).to_have_text("Zoë Okafor", timeout=15_000)
    await expect(attendee.get_by_test_id("finish-turn")).to_be_visible(timeout=15_000)
    await audit.check(attendee, "attendee, has the floor")
    # Muted by the moderators: the notice in the speaker's own panel; then unmuted.
    speaking = (await staff.call("queue:get"))["data"]["floor"]["speaking"]
    for audio in (True, False):
        muted = await staff.call(
            "participant:mute", {"participant_id": speaking["participant_id"], "audio": audio}
        )
        assert muted["ok"], muted
        await expect(attendee.get_by_test_id("speak-moderated")).to_have_attribute(
            "data-state", "muted" if audio else "unmuted"
        )
        await audit.check(attendee, f"attendee, {'muted' if audio else 'unmuted'} by the moderators")
    await expect(display.get_by_test_id("floor-speaker")).to_have_text("Zoë Okafor")
    await audit.check(display, "room display, the attendee speaks")
    for size, viewport in (
        ("720p", {"width": 1280, "height": 720}),
        ("portrait", {"width": 1080, "height": 1920}),
    ):
        await display.set_viewport_size(viewport)
        await audit.check(display, f"room display at {size}, the attendee speaks")
    await display.set_viewport_size(ROOM_SCREEN)

    # The countdown's colours as time runs out: these pages' clocks jump ahead.
    for page, who in ((attendee, "attendee"), (display, "room display")):
        countdown = page.get_by_test_id("countdown")
        now = await page.evaluate("Date.now()")
        for jump, phase in ((160_000, "ending"), (400_000, "over")):
            await page.clock.set_system_time((now + jump) / 1000)
            await expect(countdown).to_have_attribute("data-phase", phase)
            await audit.check(page, f"{who}, speaking time {phase}")

    report = await open_page(
        browser,
        f"{hemicycle.url}/s/{hemicycle.live_session}/report#token="
        + await hemicycle.staff_token(Role.MODERATOR),
        errors,
    )
    await expect(report.get_by_test_id("report")).to_be_visible()
    await audit.check(report, "report")

    audit.assert_clean()
    assert not real_errors(errors), errors


@pytest.fixture
async def moderated(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, waiting_room="public")):
        yield running


async def test_waiting_room_pages(moderated: Running, browser: Browser) -> None:
    audit = Audit()
    errors: list[str] = []
    moderator = await staff_page(moderated, browser, Role.MODERATOR, errors)
    attendee = await open_page(browser, f"{moderated.url}/s/{moderated.live_session}", errors)
    await send_registration(attendee, "Zoë Okafor")
    await expect(attendee.get_by_test_id("waiting-room")).to_be_visible()
    await audit.check(attendee, "attendee, in the waiting room")
    await expect(moderator.get_by_test_id("waiting-person")).to_have_count(1)
    await audit.check(moderator, "moderator, someone waiting")
    audit.assert_clean()
    assert not real_errors(errors), errors


# -- the help desk (issue 24) --------------------------------------------------------------------------------


async def test_help_desk_states(hemicycle: Running, browser: Browser) -> None:
    """The attendee's help panel before and during a request (answered), in English and Arabic (right to
    left); the AV desk's and the moderator console's queue with a request and its figures."""
    audit = Audit()
    errors: list[str] = []
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    await expect(attendee.get_by_test_id("help-panel")).to_be_visible()
    await audit.check(attendee, "attendee, help panel")
    panel = attendee.get_by_test_id("help-panel")
    await panel.get_by_test_id("help-text").fill("No sound on the French channel")
    await panel.get_by_test_id("help-send").click()
    await expect(panel.get_by_test_id("help-thread")).to_have_attribute("data-state", "open")

    av = await staff_page(hemicycle, browser, Role.AV, errors)
    await expect(av.get_by_test_id("help-request")).to_have_count(1)
    await audit.check(av, "av, a help request")
    moderator = await staff_page(hemicycle, browser, Role.MODERATOR, errors)
    await expect(moderator.get_by_test_id("help-request")).to_have_count(1)
    await audit.check(moderator, "moderator, a help request")
    await av.get_by_test_id("help-prepared-send").click()
    await expect(panel.get_by_test_id("help-thread")).to_have_attribute("data-state", "answered")
    await audit.check(attendee, "attendee, help request answered")
    await attendee.get_by_test_id("language-picker").select_option("ar")
    await expect(attendee.locator("html")).to_have_attribute("dir", "rtl")
    await audit.check(attendee, "attendee, help request answered, Arabic")


# -- live polls (issue 24) -------------------------------------------------------------------------------


async def test_poll_pages(hemicycle: Running, browser: Browser) -> None:
    """The moderator's polls (a draft, an open poll with live results), the attendee's form and the results
    shown to them and to the room display, then a closed poll."""
    audit = Audit()
    errors: list[str] = []
    moderator = await staff_page(hemicycle, browser, Role.MODERATOR, errors)
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, connected=True, width=ROOM_SCREEN["width"]
    )
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    staff = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    made = []
    for kind, options in (("multiple", ["Access", "Skills", "Finance"]), ("text", []), ("rating", [])):
        reply = await staff.call(
            "poll:create", {"kind": kind, "question": f"A {kind} poll?", "options": options}
        )
        made.append(reply["data"]["poll"]["id"])
    for poll_id in made[:2]:
        await staff.call("poll:open", {"poll_id": poll_id})
    panel = moderator.locator("#polls-panel")
    await expect(panel.get_by_test_id("poll")).to_have_count(3)
    polls = attendee.locator("#polls-section")
    await expect(polls.get_by_test_id("poll-form")).to_have_count(2)
    await audit.check(attendee, "attendee, two polls open")
    choice = polls.get_by_test_id("poll").filter(has_text="A multiple poll?")
    await choice.get_by_label("Skills").check()
    await choice.get_by_role("button", name="Send answer").click()
    # Confirmed before the next answer, as a person would see it.
    await expect(choice.get_by_role("status")).to_contain_text("Answer saved.")
    words = polls.get_by_test_id("poll").filter(has_text="A text poll?")
    await words.get_by_label("A few words").fill("Open data")
    await words.get_by_role("button", name="Send answer").click()
    await expect(polls.get_by_role("status").filter(has_text="Answer saved.")).to_have_count(2)
    await expect(panel.get_by_test_id("poll-results").first).to_contain_text("1 answer")
    await audit.check(moderator, "moderator, a draft and two polls with live results")
    for poll_id in made[:2]:
        await staff.call("poll:results", {"poll_id": poll_id, "shown": True})
    await expect(polls.get_by_test_id("poll-results")).to_have_count(2)
    await expect(display.get_by_test_id("poll-results")).to_have_count(1)
    await audit.check(attendee, "attendee, results shown")
    await audit.check(display, "room display, a poll's results")
    await staff.call("poll:close", {"poll_id": made[0]})
    await expect(polls.get_by_test_id("poll-answer")).to_have_count(1)
    await audit.check(attendee, "attendee, a poll closed")
    audit.assert_clean()
    assert not real_errors(errors), errors
