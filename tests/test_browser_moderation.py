"""End to end in Chromium: the waiting room, admission, removal and bans, for an attendee and a moderator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Running
from .services import CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))
    page.on("console", lambda msg: errors.append(f"{url}: {msg.text}") if msg.type == "error" else None)
    await page.goto(url)
    return page


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def link(running: Running, role: Role) -> str:
    token = await running.staff_token(role)
    return f"{running.url}/s/{running.live_session}/{role.value}#token={token}"


def real_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "favicon" not in e]


@pytest.fixture
async def moderated(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, waiting_room="public")):
        yield running


async def test_waiting_room_admit_and_remove_in_the_browser(moderated: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(moderated, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await expect(moderator.get_by_test_id("waiting-room-toggle")).to_be_checked()

    attendee = await open_page(browser, f"{moderated.url}/s/{moderated.live_session}", errors)
    form = attendee.get_by_test_id("register-form")
    await form.get_by_label("Name", exact=False).first.fill("Zoë Okafor")
    await form.get_by_label("Affiliation", exact=False).fill("Civil Society Coalition")
    await form.get_by_label("Stakeholder group", exact=False).select_option("civil_society")
    await form.get_by_label("Country", exact=False).fill("KE")
    await form.locator("button[type=submit]").click()

    # The attendee waits, and sees nothing of the session.
    await expect(attendee.get_by_test_id("waiting-room")).to_contain_text("waiting room")
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("waiting room")
    await expect(attendee.locator("#floor-section")).to_be_hidden()
    stored = await attendee.evaluate("localStorage.getItem('hemicycle.browser')")
    assert stored and len(stored) == 32
    await shoot(attendee, "moderation-attendee-waiting")

    # The moderator sees them waiting and lets them in.
    waiting = moderator.get_by_test_id("waiting-person")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("Zoë Okafor")
    await expect(waiting).to_contain_text("Civil society")
    await shoot(moderator, "moderation-moderator-waiting")
    await waiting.get_by_test_id("admit").click()
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await expect(attendee.get_by_test_id("waiting-room")).to_have_count(0)
    await expect(attendee.locator("#floor-section")).to_be_visible()
    await expect(waiting).to_have_count(0)
    record = moderator.get_by_test_id("moderation-record")
    await expect(record.get_by_test_id("moderation-action")).to_have_count(1)
    await expect(record).to_contain_text("Admitted")

    # Removed with a reason: the attendee is told why, and the record says who did it.
    person = moderator.get_by_test_id("moderated-person").filter(has_text="Zoë Okafor")
    await expect(person).to_have_count(1)
    await person.get_by_test_id("remove").click()
    dialog = moderator.get_by_test_id("remove-dialog")
    await dialog.get_by_label("Reason").fill("Repeated interruptions")
    await dialog.get_by_role("button", name="Remove").click()
    notice = attendee.get_by_test_id("removed-notice")
    await expect(notice).to_contain_text("removed from this session")
    await expect(notice).to_contain_text("Repeated interruptions")
    await expect(attendee.locator("#floor-section")).to_be_hidden()
    await expect(moderator.get_by_test_id("removed-person")).to_contain_text("Repeated interruptions")
    await expect(record.get_by_test_id("moderation-action").first).to_contain_text("Removed")
    await expect(record).to_contain_text("Moderator")
    await shoot(attendee, "moderation-attendee-removed")
    assert not real_errors(errors), errors


async def test_ban_flag_and_unban_in_the_browser(moderated: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(moderated, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    assert (await moderated.core.store.get_session(moderated.live_session)).is_public

    attendee = await open_page(browser, f"{moderated.url}/s/{moderated.live_session}", errors)
    form = attendee.get_by_test_id("register-form")
    await form.get_by_label("Name", exact=False).first.fill("Troll Account")
    await form.get_by_label("Affiliation", exact=False).fill("Nowhere")
    await form.get_by_label("Stakeholder group", exact=False).select_option("private_sector")
    await form.get_by_label("Country", exact=False).fill("FR")
    await form.locator("button[type=submit]").click()
    await expect(attendee.get_by_test_id("waiting-room")).to_be_visible()

    # Banned straight from the waiting room.
    waiting = moderator.get_by_test_id("waiting-person")
    await waiting.get_by_test_id("ban").click()
    dialog = moderator.get_by_test_id("ban-dialog")
    await dialog.get_by_label("Reason").fill("Spam")
    await dialog.get_by_role("button", name="Ban").click()
    await expect(attendee.get_by_test_id("removed-notice")).to_contain_text("banned from this event")
    banned = moderator.get_by_test_id("banned-person")
    await expect(banned).to_contain_text("Troll Account")

    # The same browser registers again under another name: it waits, flagged for the moderator.
    await attendee.reload()
    await expect(attendee.get_by_test_id("error-message")).to_have_attribute("data-code", "token_revoked")
    await attendee.get_by_role("button", name="Register again").click()
    await form.get_by_label("Name", exact=False).first.fill("Innocent Newcomer")
    await form.get_by_label("Affiliation", exact=False).fill("Somewhere Else")
    await form.get_by_label("Stakeholder group", exact=False).select_option("private_sector")
    await form.get_by_label("Country", exact=False).fill("FR")
    await form.locator("button[type=submit]").click()
    await expect(attendee.get_by_test_id("waiting-room")).to_be_visible()
    flagged = moderator.get_by_test_id("waiting-person").filter(has_text="Innocent Newcomer")
    await expect(flagged.get_by_test_id("flag-possibly-banned")).to_contain_text("same browser")
    await shoot(moderator, "moderation-moderator-flagged")

    # Unbanned: the ban list empties and the record keeps both decisions.
    await banned.get_by_test_id("unban").click()
    unban = moderator.get_by_test_id("unban-dialog")
    await unban.get_by_label("Reason").fill("Appeal accepted")
    await unban.get_by_role("button", name="Unban").click()
    await expect(moderator.get_by_test_id("banned-person")).to_have_count(0)
    record = moderator.get_by_test_id("moderation-record")
    await expect(record.locator('[data-action="participant.ban"]')).to_contain_text("Spam")
    await expect(record.locator('[data-action="participant.unban"]')).to_contain_text("Appeal accepted")
    assert not real_errors(errors), errors
