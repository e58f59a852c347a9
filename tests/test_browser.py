"""End to end in Chromium: the pages behind the role links show the live session as people come and go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import PROJECTORS, SIZES, link, open_page, shoot, shoot_sizes
from .helpers import Running, mint


async def test_live_session_across_roles(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("session-state")).to_contain_text("live", ignore_case=True)
    assert "#token=" not in moderator.url, "the token is taken out of the address bar"

    display = await open_page(browser, await link(hemicycle, Role.DISPLAY), errors)
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors)
    await expect(moderator.get_by_test_id("roster").get_by_test_id("person")).to_have_count(3)

    # An attendee registers through the form, with a name that holds markup.
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    form = attendee.get_by_test_id("register-form")
    hostile = "<img src=x onerror=alert(1)> Zoë"
    await form.get_by_label("Name", exact=False).first.fill(hostile)
    await form.get_by_label("Affiliation", exact=False).fill("Civil Society Coalition")
    await form.get_by_label("Stakeholder group", exact=False).select_option("civil_society")
    await form.get_by_label("Country", exact=False).fill("KE")
    await form.locator("button[type=submit]").click()
    await expect(attendee.get_by_test_id("session-state")).to_contain_text("live", ignore_case=True)

    roster = moderator.get_by_test_id("roster")
    await expect(roster.get_by_test_id("person")).to_have_count(4)
    await expect(roster).to_contain_text(hostile)
    assert await moderator.locator("img[src=x]").count() == 0, "markup in a name is shown as text"
    await expect(display.get_by_test_id("presence-total")).to_contain_text("4")
    await shoot(moderator, "moderator")
    await shoot(attendee, "attendee")
    await shoot(display, "display")
    await shoot(chair, "chair")
    for page, name in ((moderator, "moderator"), (attendee, "attendee"), (chair, "chair")):
        await shoot_sizes(page, f"live-{name}")
    await shoot_sizes(display, "live-display", {**SIZES, **PROJECTORS})

    # The chair ends the session, after confirming (a stray click cancelled first); every page shows it.
    await chair.get_by_test_id("state-end").click()
    dialog = chair.get_by_test_id("end-session-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("End the session?")
    await shoot(chair, "chair-end-session-dialog")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    await expect(chair.get_by_test_id("state-end")).to_be_focused()
    await expect(moderator.get_by_test_id("session-state")).to_contain_text("live", ignore_case=True)
    await chair.get_by_test_id("state-end").click()
    await dialog.get_by_role("button", name="End session").click()
    for page in (moderator, attendee, display):
        await expect(page.get_by_test_id("session-state")).to_contain_text("ended", ignore_case=True)

    # The attendee leaves; the moderator's roster follows.
    await attendee.context.close()
    await expect(roster.get_by_test_id("person")).to_have_count(3)

    # Reloading keeps the identity (token in storage), not a new registration.
    await moderator.reload()
    await expect(moderator.get_by_test_id("roster").get_by_test_id("person")).to_have_count(3)

    for role in (Role.AV, Role.CAPTIONER, Role.INTERPRETER, Role.ADMIN):
        page = await open_page(browser, await link(hemicycle, role), errors)
        if role is Role.ADMIN:
            await expect(page.locator("body")).to_contain_text("Opening ceremony")
        else:
            await expect(page.get_by_test_id("connection-state")).to_contain_text(
                "connected", ignore_case=True
            )
        await shoot(page, role.value)
        await shoot_sizes(page, f"live-{role.value}")
    index = await open_page(browser, hemicycle.url + "/", errors)
    await expect(index.locator("body")).to_contain_text("WSIS+20")
    await shoot(index, "index")
    await shoot_sizes(index, "index")
    assert not [e for e in errors if "favicon" not in e], errors


async def test_expired_or_forged_link_explains_what_to_do(hemicycle: Running, browser: Browser) -> None:
    errors: list[Any] = []
    expired = await mint(hemicycle.core, Role.MODERATOR, hemicycle.live_session, ttl=timedelta(seconds=-5))
    page = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/moderator#token={expired}", errors
    )
    await expect(page.get_by_test_id("error-message")).to_contain_text("expired", ignore_case=True)
    await shoot(page, "expired-link")
    forged = await open_page(
        browser, f"{hemicycle.url}/s/{hemicycle.live_session}/moderator#token=abc.def.ghi", []
    )
    await expect(forged.get_by_test_id("error-message")).to_be_visible()
