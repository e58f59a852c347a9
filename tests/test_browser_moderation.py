"""End to end in Chromium: the waiting room, admission and removal, seen by an attendee and a moderator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Running
from .test_browser_queue import browser, link, open_page, real_errors, shoot

__all__ = ["browser"]  # the fixture, shared with tests/test_browser_queue.py


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
