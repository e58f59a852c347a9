"""End to end in Chromium: attendees' questions, moderation, the relay to the chair, the room display."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Locator, Page, expect

from server.domain.roles import Role
from signaling.hub import Hub

from .browser import link, open_page, real_errors, register_in_browser, shoot, shoot_part
from .helpers import Running, eventually

HOSTILE = "<img src=x onerror=alert(1)> and ما هي الخطوات التالية؟"


async def attendee_page(running: Running, browser: Browser, errors: list[str], name: str) -> Page:
    """An attendee who registers through the form."""
    page = await open_page(browser, f"{running.url}/s/{running.live_session}", errors, width=1000)
    await register_in_browser(page, name)
    return page


async def ask(page: Page, text: str, *, to: str = "", anonymous: bool = False) -> Locator:
    """Post a question from the attendee's page; returns its item in "Your questions"."""
    form = page.get_by_test_id("question-form")
    await form.get_by_test_id("question-text").fill(text)
    if to:
        await form.get_by_test_id("question-to").fill(to)
    if anonymous:
        await form.get_by_test_id("question-anonymous").check()
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".question-status")).to_contain_text("Your question was sent")
    mine = page.get_by_test_id("my-questions")
    item = mine.get_by_test_id("my-question").filter(has_text=text)
    await expect(item).to_have_count(1)
    # By id from now on: the text may change (edits).
    return mine.locator(f'[data-question-id="{await question_id_of(item)}"]')


def moderation_item(page: Page, question_id: int) -> Locator:
    return page.get_by_test_id("moderation").locator(f'[data-question-id="{question_id}"]')


async def show(page: Page, state: str) -> None:
    """Pick a state filter on the moderation panel."""
    button = page.locator(f'[data-testid="question-filter"][data-filter="{state}"]')
    await button.click()
    await expect(button).to_have_attribute("aria-pressed", "true")


async def question_id_of(item: Locator) -> int:
    value = await item.get_attribute("data-question-id")
    assert value, "a question item carries its id"
    return int(value)


def count(page: Page, name: str) -> Locator:
    return page.get_by_test_id("question-counts").locator(f'[data-name="{name}"]')


def has_class(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def public_questions(data: Any) -> list[Any]:
    return list(data["questions"]) if data else []


async def test_question_from_asking_to_answered(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors, connected=True)
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors, connected=True)
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )
    attendee = await attendee_page(hemicycle, browser, errors, "Zoë Okafor")

    # A second attendee follows through Socket.IO.
    registered = await hemicycle.register(
        display_name="Kofi Mensah", stakeholder_group="academic_technical", country="GH"
    )
    kofi = await hemicycle.join(registered["token"])
    welcome = kofi.last("welcome")
    assert welcome["questions"]["questions"] == [] and welcome["questions"]["premoderated"] is True

    # The attendee asks, with a live character count; the question waits for the moderators.
    form = attendee.get_by_test_id("question-form")
    await form.get_by_test_id("question-text").fill("Hello")
    await expect(form.locator(".char-count")).to_contain_text("5 / 500")
    mine = await ask(attendee, HOSTILE, to="Dr. Amani Abou-Zeid")
    await expect(mine).to_have_attribute("data-state", "pending")
    await expect(mine.locator(".question-text")).to_have_text(HOSTILE)
    await expect(mine.locator(".question-text")).to_have_attribute("dir", "auto")
    await expect(mine).to_contain_text("Dr. Amani Abou-Zeid")
    await expect(mine.get_by_test_id("edit-question")).to_be_visible()
    await expect(mine.get_by_test_id("withdraw-question")).to_be_visible()
    assert await attendee.locator("img").count() == 0, "the question is text, not markup"
    question_id = await question_id_of(mine)

    # The moderator sees it (pending is the default filter), with who asked.
    item = moderation_item(moderator, question_id)
    await expect(item).to_have_attribute("data-state", "pending")
    await expect(item.locator(".question-text")).to_have_text(HOSTILE)
    await expect(item).to_contain_text("Zoë Okafor")
    await expect(count(moderator, "asked")).to_have_attribute("data-count", "1")
    assert await moderator.locator("img").count() == 0

    # Nobody else sees a pending question.
    got = await kofi.call("questions:get", {})
    assert got["ok"] and got["data"]["questions"]["questions"] == [], got
    assert public_questions(kofi.public_questions()) == [] and not kofi.received("questions:changed")
    await expect(attendee.get_by_test_id("public-questions").get_by_test_id("public-question")).to_have_count(
        0
    )

    # The moderator approves it: the asker's page says so, and everyone sees it.
    await item.get_by_test_id("approve").click()
    await expect(mine).to_have_attribute("data-state", "approved")
    # Approved, it stays in the console's default view, the moderator's next job (forwarding it).
    default = moderator.locator('[data-testid="question-filter"][data-filter="todo"]')
    await expect(default).to_have_attribute("aria-pressed", "true")
    await expect(item).to_have_attribute("data-state", "approved")
    await expect(item.get_by_test_id("forward")).to_be_visible()
    await expect(attendee.locator("#announcer")).to_contain_text("was approved")
    await expect(mine.get_by_test_id("edit-question")).to_have_count(0)
    public = attendee.get_by_test_id("public-questions").locator(f'[data-question-id="{question_id}"]')
    await expect(public).to_have_count(1)
    await expect(public.locator(".question-text")).to_have_text(HOSTILE)
    await expect(public).to_contain_text("Your question")
    await expect(public.get_by_test_id("vote")).to_have_count(0)  # nobody votes for their own question
    await kofi.wait_questions(lambda q: [x["id"] for x in q["questions"]] == [question_id])

    # Kofi votes through the socket: the attendee's page counts it.
    voted = await kofi.call("question:vote", {"question_id": question_id})
    assert voted["ok"] and voted["data"] == {"question_id": question_id, "votes": 1, "voted": True}, voted
    await expect(public.get_by_test_id("vote-count")).to_have_text("1")
    await shoot(attendee, "questions-attendee")

    # Forwarded to the chair, who reads it aloud: the display and the attendee's page show it.
    # Someone who registered after the question was asked votes too: moderators see it apart, the public
    # count does not move (docs/protocol.md, vote stuffing).
    newcomer = await hemicycle.join((await hemicycle.register(display_name="Newcomer"))["token"])
    late = await newcomer.call("question:vote", {"question_id": question_id})
    assert late["ok"] and late["data"]["votes"] == 1, late

    await show(moderator, "approved")
    await expect(item.get_by_test_id("late-votes")).to_have_attribute("data-count", "1")
    await expect(item.locator(".vote-number")).to_have_text("1")
    await expect(public.get_by_test_id("vote-count")).to_have_text("1")
    await item.get_by_test_id("forward").click()
    await expect(item).to_contain_text("Forwarded to the chair")
    chair_item = chair.get_by_test_id("chair-questions").locator(f'[data-question-id="{question_id}"]')
    await expect(chair_item).to_have_attribute("data-stage", "forwarded")
    await expect(chair_item.locator(".question-text")).to_have_text(HOSTILE)
    await expect(chair_item).to_contain_text("Zoë Okafor")
    await shoot(chair, "questions-chair-forwarded")
    await chair_item.get_by_test_id("read").click()
    await expect(chair_item).to_have_attribute("data-stage", "read")
    await expect(chair_item).to_have_class(has_class("question-reading"))

    reading = display.get_by_test_id("reading")
    await expect(reading).to_be_visible()
    await expect(reading).to_have_attribute("data-question-id", str(question_id))
    await expect(reading.locator(".reading-text")).to_have_text(HOSTILE)
    await expect(reading).to_contain_text("Zoë Okafor")
    await expect(reading).to_contain_text("Civil Society Coalition")
    await expect(reading).to_contain_text("Civil society")
    assert await display.locator("img").count() == 0, "the question is shown as text on the display"
    await shoot(display, "questions-display-reading")

    attendee_reading = attendee.get_by_test_id("reading")
    await expect(attendee_reading).to_be_visible()
    await expect(attendee_reading.locator(".reading-text")).to_have_text(HOSTILE)
    await expect(attendee_reading).to_contain_text("Zoë Okafor")
    await expect(attendee.locator("#announcer")).to_contain_text("Your question is being read aloud")
    await expect(public).to_have_class(has_class("question-reading"))
    await expect(public).to_contain_text("Being read aloud")
    await shoot(attendee, "questions-attendee-reading")
    await shoot_part(attendee, "#questions-section", "questions-attendee-panel")
    await shoot(chair, "questions-chair")

    # Answered: the display clears; the counts add up for the report.
    await chair_item.get_by_test_id("answered").click()
    await expect(chair_item).to_have_count(0)
    await expect(chair.get_by_test_id("chair-questions").locator("..")).to_contain_text("1 question answered")
    await expect(reading).to_be_hidden()
    await expect(attendee_reading).to_be_hidden()
    await expect(public).to_contain_text("Answered")
    for name, value in {"asked": 1, "forwarded": 1, "read_aloud": 1, "answered": 1, "pending": 0}.items():
        await expect(count(moderator, name)).to_have_attribute("data-count", str(value))
    await shoot(moderator, "questions-moderator")

    for page in (moderator, chair, display, attendee):
        assert not await page.locator("[data-testid=error-message]").count()
    assert not real_errors(errors), errors


async def test_dismiss_anonymous_merge_edit_and_export(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors, connected=True)
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )
    attendee = await attendee_page(hemicycle, browser, errors, "Amina Diallo")
    registered = await hemicycle.register(display_name="Kofi Mensah", country="GH")
    kofi = await hemicycle.join(registered["token"])

    # Dismissed with a reason (required): the asker reads it.
    off_topic = await ask(attendee, "What is the wifi password?")
    off_id = await question_id_of(off_topic)
    item = moderation_item(moderator, off_id)
    await item.get_by_test_id("dismiss").click()
    dialog = moderator.get_by_test_id("dismiss-dialog")
    await dialog.get_by_role("button", name="Dismiss").click()
    await expect(dialog.locator(".error")).to_contain_text("required")
    await dialog.get_by_label("Reason").fill("Off topic: ask the help desk")
    await dialog.get_by_role("button", name="Dismiss").click()
    await expect(off_topic).to_have_attribute("data-state", "dismissed")
    await expect(off_topic).to_contain_text("Off topic: ask the help desk")
    await expect(attendee.locator("#announcer")).to_contain_text("was dismissed by the moderators")
    await expect(off_topic.get_by_test_id("edit-question")).to_have_count(0)

    # The asker fixes a pending question, then withdraws another.
    typo = await ask(attendee, "How will teh results be measured?")
    await typo.get_by_test_id("edit-question").click()
    edit = attendee.get_by_test_id("edit-question-dialog")
    await edit.get_by_label("Your question").fill("How will the results be measured?")
    await edit.get_by_role("button", name="Save").click()
    fixed = typo
    await expect(fixed.locator(".question-text")).to_have_text("How will the results be measured?")
    await expect(fixed).to_have_attribute("data-state", "pending")
    second = await ask(attendee, "Never mind this one")
    await second.get_by_test_id("withdraw-question").click()
    await attendee.get_by_test_id("withdraw-question-dialog").get_by_role("button", name="Withdraw").click()
    await expect(second).to_have_attribute("data-state", "withdrawn")

    # An anonymous question: others see "Anonymous", the moderator sees who asked.
    anonymous = await ask(attendee, "Who funds the follow-up?", anonymous=True)
    anon_id = await question_id_of(anonymous)
    await expect(anonymous).to_contain_text("Anonymous to others")
    anon_item = moderation_item(moderator, anon_id)
    await expect(anon_item).to_contain_text("Amina Diallo")
    await expect(anon_item).to_contain_text("Anonymous to others")
    await anon_item.get_by_test_id("approve").click()
    public = attendee.get_by_test_id("public-questions").locator(f'[data-question-id="{anon_id}"]')
    await expect(public.locator(".question-asker")).to_have_text("Anonymous")
    seen = await kofi.wait_questions(lambda q: any(x["id"] == anon_id for x in q["questions"]))
    assert next(x for x in seen["questions"] if x["id"] == anon_id)["asker"]["display_name"] == "Anonymous"

    # The moderator fixes a typo on the asker's edited question: the history shows both edits.
    fixed_id = await question_id_of(fixed)
    fixed_item = moderation_item(moderator, fixed_id)
    await fixed_item.get_by_test_id("edit").click()
    dialog = moderator.get_by_test_id("edit-dialog")
    await expect(dialog.get_by_test_id("edit-history")).to_contain_text("How will teh results be measured?")
    await dialog.get_by_label("Text").fill("How will the results be measured and reported?")
    await dialog.get_by_role("button", name="Save").click()
    await expect(fixed_item.locator(".question-text")).to_have_text(
        "How will the results be measured and reported?"
    )
    await expect(fixed_item.get_by_test_id("edit-history")).to_contain_text("2 edits")
    await expect(fixed.locator(".question-text")).to_have_text(
        "How will the results be measured and reported?"
    )

    # A duplicate is merged into Kofi's approved question: the asker's page says so, and shows the vote moved.
    posted = await kofi.call("question:post", {"text": "How is the follow-up funded?"})
    assert posted["ok"], posted
    kofi_id = posted["data"]["question"]["id"]
    # By keyboard: the approved question leaves the "pending" view; focus stays in the list.
    await show(moderator, "pending")
    await moderation_item(moderator, kofi_id).get_by_test_id("approve").focus()
    await moderator.keyboard.press("Enter")
    await expect(moderation_item(moderator, kofi_id)).to_have_count(0)
    focused = await moderator.evaluate(
        "!!document.activeElement?.closest('[data-testid=moderation]')"
        " && document.activeElement.tagName === 'BUTTON'"
    )
    assert focused, "keyboard focus moves to the next question's buttons"
    await fixed_item.get_by_test_id("merge").click()
    merge = moderator.get_by_test_id("merge-dialog")
    await merge.get_by_label("Merge into").select_option(str(kofi_id))
    await merge.get_by_role("button", name="Merge").click()
    await expect(fixed).to_have_attribute("data-state", "merged")
    kofi_public = attendee.get_by_test_id("public-questions").locator(f'[data-question-id="{kofi_id}"]')
    await expect(kofi_public.get_by_test_id("vote-count")).to_have_text("1")
    await expect(kofi_public.get_by_test_id("unvote")).to_be_visible()
    await kofi_public.get_by_test_id("unvote").click()
    await expect(kofi_public.get_by_test_id("vote-count")).to_have_text("0")
    await kofi_public.get_by_test_id("vote").click()
    await expect(kofi_public.get_by_test_id("vote-count")).to_have_text("1")

    # Filters: by state and by stakeholder group.
    await show(moderator, "all")
    await expect(moderator.get_by_test_id("moderation-question")).to_have_count(5)
    await (
        moderator.locator("#questions-panel").get_by_label("Stakeholder group").select_option("civil_society")
    )
    await expect(moderator.get_by_test_id("moderation-question")).to_have_count(4)
    await moderator.locator("#questions-panel").get_by_label("Stakeholder group").select_option("government")
    await expect(moderator.get_by_test_id("moderation-question")).to_have_count(1)
    await moderator.locator("#questions-panel").get_by_label("Stakeholder group").select_option("")
    await show(moderator, "dismissed")
    await expect(moderator.get_by_test_id("moderation-question")).to_have_count(1)
    await show(moderator, "approved")
    await expect(moderator.get_by_test_id("moderation-question")).to_have_count(2)

    # Star, forward and read the anonymous question: the display does not name the asker.
    await anon_item.get_by_test_id("star").click()
    await expect(anon_item.get_by_test_id("star")).to_have_attribute("aria-pressed", "true")
    await anon_item.get_by_test_id("forward").click()
    await anon_item.get_by_test_id("read").click()
    reading = display.get_by_test_id("reading")
    await expect(reading.locator(".reading-text")).to_have_text("Who funds the follow-up?")
    await expect(reading).to_contain_text("Asked anonymously")
    await expect(reading).not_to_contain_text("Amina")
    await expect(public).to_contain_text("Being read aloud")
    await expect(public).to_contain_text("Highlighted by the moderators")
    await shoot(display, "questions-display-anonymous")
    await shoot_part(attendee, "#questions-section", "questions-attendee-states")
    await shoot(moderator, "questions-moderator-approved")
    await shoot_part(moderator, "#questions-panel", "questions-moderator-panel")

    # Export for the report: downloaded through a Blob URL, with the token in a header.
    async with moderator.expect_download() as info:
        await moderator.get_by_test_id("export-csv").click()
    download = await info.value
    assert download.suggested_filename == f"session-{hemicycle.live_session}-questions.csv"
    assert not download.url.startswith("http"), download.url  # a blob: URL, never the API with a token
    path = await download.path()
    csv = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    assert "Who funds the follow-up?" in csv and "Off topic: ask the help desk" in csv, csv
    assert "Anonymous" in csv
    await expect(moderator.locator(".moderation-settings")).to_contain_text("Downloaded")
    async with moderator.expect_download() as info:
        await moderator.get_by_test_id("export-json").click()
    download = await info.value
    assert download.suggested_filename.endswith(".json")

    # Post-moderation: questions are shown at once.
    await moderator.get_by_test_id("premoderation").uncheck()
    await expect(moderator.get_by_test_id("premoderation")).not_to_be_checked()
    await kofi.wait_questions(lambda q: q["premoderated"] is False)
    late = await kofi.call("question:post", {"text": "And the timeline?"})
    assert late["ok"] and late["data"]["question"]["state"] == "approved", late
    await expect(attendee.get_by_test_id("public-questions")).to_contain_text("And the timeline?")
    await expect(attendee.get_by_test_id("question-form")).to_contain_text("shown to everyone as soon as")

    for page in (moderator, display, attendee):
        assert not await page.locator("[data-testid=error-message]").count()
    assert not real_errors(errors), errors


async def test_attendee_reads_why_the_hand_went_down(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    attendee = await attendee_page(hemicycle, browser, errors, "Zoë Okafor")
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    floor = attendee.locator("#floor-section")

    # The room is shown as it is named ("CICG, Room 1"), with no word added.
    meta = attendee.locator(".session-meta")
    await expect(meta).to_contain_text("CICG, Room 1")
    assert "Room CICG" not in (await meta.text_content() or "")

    seen: set[int] = set()

    async def raise_hand() -> int:
        await attendee.get_by_test_id("raise-hand").click()
        await expect(attendee.get_by_test_id("my-place")).to_have_attribute("data-place", "1")
        queue = await moderator.wait_for(
            "queue", lambda q: [e["id"] for e in q["queue"] if e["id"] not in seen]
        )
        entry = int(queue["queue"][0]["id"])
        seen.add(entry)
        return entry

    entry = await raise_hand()
    removed = await moderator.call("queue:remove", {"entry_id": entry, "reason": "already spoke"})
    assert removed["ok"], removed
    await expect(floor).to_contain_text("The moderators removed your request: already spoke")

    entry = await raise_hand()
    assert (await moderator.call("floor:grant", {"entry_id": entry}))["ok"]
    await expect(attendee.get_by_test_id("finish-turn")).to_be_visible()
    assert (await moderator.call("floor:end", {"entry_id": entry, "revoke": True}))["ok"]
    await expect(floor).to_contain_text("Your turn ended: the moderators took the floor back (revoked)")

    await raise_hand()
    await attendee.get_by_test_id("lower-hand").click()
    await expect(floor).to_contain_text("You lowered your hand.")
    await eventually(lambda: moderator.last("queue") and not moderator.last("queue")["queue"])
    assert not real_errors(errors), errors


async def test_a_page_that_missed_an_update_reads_the_list_again(
    hemicycle: Running, browser: Browser
) -> None:
    """Only changes are broadcast: one lost on its way (a fan-out hiccup) must not leave the page wrong."""
    errors: list[str] = []
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    assert (await moderator.call("questions:settings", {"premoderated": False}))["ok"]
    asker = await hemicycle.join((await hemicycle.register(display_name="Asker"))["token"])
    voter = await hemicycle.join((await hemicycle.register(display_name="Voter"))["token"])
    attendee = await attendee_page(hemicycle, browser, errors, "Zoë Okafor")
    public = attendee.get_by_test_id("public-questions").get_by_test_id("public-question")

    first = (await asker.call("question:post", {"text": "Seen by all"}))["data"]["question"]["id"]
    await expect(public).to_have_count(1)

    hub = hemicycle.core.notifier
    assert isinstance(hub, Hub)
    deliver = hub.sio.emit
    lost: list[Any] = []

    async def lossy(event: str, data: Any = None, **kwargs: Any) -> Any:
        if event == "questions:changed" and not lost:
            lost.append(data)
            return None
        return await deliver(event, data, **kwargs)

    hub.sio.emit = lossy  # type: ignore[method-assign]
    try:
        second = (await asker.call("question:post", {"text": "Lost on the way"}))["data"]["question"]["id"]
        await eventually(lambda: lost)
        assert [q["id"] for q in lost[0]["questions"]] == [second]
        # The next update (a vote) names the lost one as its previous: the page sees the gap, reads again.
        assert (await voter.call("question:vote", {"question_id": first}))["ok"]
        await expect(public).to_have_count(2)
        await expect(attendee.get_by_test_id("public-questions")).to_contain_text("Lost on the way")
        item = attendee.get_by_test_id("public-questions").locator(f'[data-question-id="{first}"]')
        await expect(item.get_by_test_id("vote-count")).to_have_text("1")
    finally:
        hub.sio.emit = deliver  # type: ignore[method-assign]
    assert not real_errors(errors), errors
