"""End to end in Chromium: the waiting room, admission, removal and bans, for an attendee and a moderator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, send_registration, shoot
from .conftest import make_settings, run_app
from .helpers import Running


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
    await send_registration(attendee, "Zoë Okafor")

    # The attendee waits, and sees nothing of the session.
    await expect(attendee.get_by_test_id("waiting-room")).to_contain_text("waiting room")
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("waiting room")
    # Keyboard focus lands on what the page now says, not on <body> (the form it was in is gone).
    await expect(attendee.get_by_test_id("waiting-room").get_by_role("heading")).to_be_focused()
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

    # The waiting room turned off and on again by keyboard: focus stays on the switch through each request.
    toggle = moderator.get_by_test_id("waiting-room-toggle")
    await toggle.focus()
    for checked in (False, True):
        await moderator.keyboard.press("Space")
        await expect(toggle).to_be_checked(checked=checked)
        await expect(toggle).to_be_enabled()
        await expect(toggle).to_be_focused()
    assert not real_errors(errors), errors


async def test_ban_flag_and_unban_in_the_browser(moderated: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(moderated, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    assert (await moderated.core.store.get_session(moderated.live_session)).is_public

    attendee = await open_page(browser, f"{moderated.url}/s/{moderated.live_session}", errors)
    await send_registration(attendee, "Troll Account", "private_sector", "FR", affiliation="Nowhere")
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
    refused = attendee.get_by_test_id("error-message")
    await expect(refused).to_have_attribute("data-code", "token_revoked")
    # After a reload the server says only "revoked": the page still says it was a ban, and why.
    await expect(refused).to_contain_text("banned from this event")
    await expect(refused).to_contain_text("Spam")
    await shoot(attendee, "moderation-attendee-banned-reloaded")
    await attendee.get_by_role("button", name="Register again").click()
    await send_registration(
        attendee, "Innocent Newcomer", "private_sector", "FR", affiliation="Somewhere Else"
    )
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
