"""End to end in Chromium: the moderator starts recording from their page; the attendee page, the room
display and the AV desk show the indicator at once, a page opened mid-recording shows it from its welcome,
screen readers are told; the AV desk stops it and the indicator goes everywhere."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot
from .helpers import Running


async def test_the_recording_indicator_on_every_page(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(
        browser, await link(hemicycle, Role.MODERATOR), errors, width=1400, connected=True
    )
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(attendee, "Zoë Okafor")
    for page in (moderator, display, attendee):
        await expect(page.get_by_test_id("recording-indicator")).to_be_hidden()
    # Only those who may record get the button.
    await expect(attendee.get_by_test_id("recording-button")).to_be_hidden()
    await expect(display.get_by_test_id("recording-button")).to_be_hidden()

    button = moderator.get_by_test_id("recording-button")
    await expect(button).to_have_text("Start recording")
    await button.click()
    await expect(button).to_have_text("Stop recording")
    for page in (moderator, display, attendee):
        await expect(page.get_by_test_id("recording-indicator")).to_be_visible()
        await expect(page.get_by_test_id("recording-indicator")).to_contain_text("Recording")
    # Announced to screen readers, with who started it.
    status = attendee.get_by_test_id("recording-status")
    await expect(status).to_have_attribute("aria-live", "polite")
    await expect(status).to_have_text("Recording started by Moderator.")

    # A page opened now shows it from its welcome.
    desk = await open_page(browser, await link(hemicycle, Role.AV), errors, width=1400, connected=True)
    await expect(desk.get_by_test_id("recording-indicator")).to_be_visible()
    await shoot(attendee, "recording-attend")
    await shoot(display, "recording-display")

    stop = desk.get_by_test_id("recording-button")
    await expect(stop).to_have_text("Stop recording")
    await stop.click()
    for page in (moderator, display, attendee, desk):
        await expect(page.get_by_test_id("recording-indicator")).to_be_hidden()
    await expect(status).to_contain_text("Recording stopped by")
    await expect(button).to_have_text("Start recording")
    assert not real_errors(errors), errors
