"""End to end in Chromium: a non-public session, reached by its attendee link, through the waiting room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import open_page, real_errors, send_registration
from .conftest import make_settings, run_app
from .helpers import Running
from .test_admission_media import private_session


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    """The waiting room off for public sessions: a non-public one has it all the same."""
    async for running in run_app(make_settings(tmp_path)):
        yield running


async def test_an_attendee_registers_waits_and_comes_back_to_a_non_public_session(
    hemicycle: Running, browser: Browser
) -> None:
    closed = await private_session(hemicycle)
    errors: list[str] = []
    token = await hemicycle.staff_token(Role.MODERATOR, closed)
    moderator = await open_page(browser, f"{hemicycle.url}/s/{closed}/moderator#token={token}", errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await expect(moderator.get_by_test_id("session-title")).to_contain_text("Closed consultation")
    await expect(moderator.get_by_test_id("error-message")).to_have_count(0)

    # The link the organisers hand out names the event; the bare address says nothing of the session.
    links, _ = await hemicycle.core.session_links(await hemicycle.core.store.get_session(closed), None)
    assert links["attendee"].endswith(f"/s/{closed}?event={hemicycle.event_id}")
    attendee = await open_page(browser, f"{hemicycle.url}/s/{closed}?event={hemicycle.event_id}", errors)
    await send_registration(attendee, "Zoë Okafor")
    await expect(attendee.get_by_test_id("waiting-room")).to_be_visible()
    await expect(attendee.get_by_test_id("session-title")).to_contain_text("Closed consultation")
    waiting = moderator.get_by_test_id("waiting-person")
    await expect(waiting).to_contain_text("Zoë Okafor")
    await waiting.get_by_test_id("admit").click()
    await expect(attendee.locator("#floor-section")).to_be_visible()

    # Admitted, the page reads the session with the attendee's token and goes straight in.
    await attendee.reload()
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await expect(attendee.locator("#floor-section")).to_be_visible()
    assert not real_errors(errors), errors
