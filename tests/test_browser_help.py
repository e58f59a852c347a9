"""End to end in Chromium: an attendee asks the help desk from their page, by keyboard; the AV desk and the
moderator console see the request with the page's own figures, answer (a prepared answer arrives in the
attendee's language) and close it; the attendee's panel follows through a reload; nobody else sees it."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from server.domain import helpdesk as rules
from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot, shoot_part
from .helpers import Running

HOSTILE = "<img src=x onerror=window.pwned=1> no sound on French"


async def test_help_from_the_attendee_to_the_av_desk_and_back(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    av = await open_page(browser, await link(hemicycle, Role.AV), errors, width=1400, connected=True)
    moderator = await open_page(
        browser, await link(hemicycle, Role.MODERATOR), errors, width=1400, connected=True
    )
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(attendee, "Zoë Okafor")
    # The attendee reads the page in French, changed in place: prepared answers will come in French.
    await attendee.get_by_test_id("language-picker").select_option("fr")
    other = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(other, "Kofi Mensah")

    queue = av.get_by_test_id("help-queue")
    await expect(queue.get_by_test_id("help-count")).to_have_text("No open help requests.")

    # The attendee, keyboard only: the panel in French, a category, words, and the button.
    panel = attendee.get_by_test_id("help-panel")
    await expect(attendee.locator("#help-heading")).to_have_text("Aide technique")
    choice = panel.get_by_label("Je n’entends pas la salle")
    await choice.focus()
    await attendee.keyboard.press("Space")
    await expect(choice).to_be_checked()
    await attendee.keyboard.press("Tab")
    await attendee.keyboard.type(HOSTILE)
    await attendee.keyboard.press("Tab")
    await attendee.keyboard.press("Enter")
    thread = panel.get_by_test_id("help-thread")
    await expect(thread).to_have_attribute("data-state", "open")
    await expect(thread.get_by_test_id("help-message")).to_have_count(1)
    await expect(attendee.locator("#announcer")).to_have_attribute("aria-live", "polite")

    # The AV desk sees it, with the figures the page attached (browser and channel at least).
    request = queue.get_by_test_id("help-request")
    await expect(request).to_have_count(1)
    await expect(request).to_contain_text("I can’t hear the floor")
    await expect(request).to_contain_text("Zoë Okafor")
    await expect(request.get_by_test_id("help-message")).to_contain_text(HOSTILE)
    figures = request.get_by_test_id("help-figures")
    await expect(figures).to_contain_text("Chrome")
    await expect(figures).to_contain_text("floor")
    await expect(moderator.get_by_test_id("help-request")).to_have_count(1)
    await shoot_part(av, "#help-panel", "help-av-queue")

    # A prepared answer, chosen and sent by keyboard: it arrives in French.
    await request.get_by_test_id("help-prepared").select_option("check_channel")
    await request.get_by_test_id("help-prepared-send").focus()
    await av.keyboard.press("Enter")
    french = rules.PREPARED_ANSWERS["check_channel"]["fr"]
    await expect(thread).to_have_attribute("data-state", "answered")
    await expect(thread.get_by_test_id("help-message").last).to_contain_text(french)

    # The attendee writes again; a reload keeps the conversation.
    reply = panel.get_by_test_id("help-reply")
    await reply.fill("Merci, ça marche")
    await reply.press("Tab")
    await attendee.keyboard.press("Enter")
    await expect(thread).to_have_attribute("data-state", "open")
    await attendee.reload()
    await expect(attendee.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    await expect(attendee.get_by_test_id("help-thread").get_by_test_id("help-message")).to_have_count(3)
    await shoot_part(attendee, "#help-section", "help-attendee-thread")

    # The moderator closes it; it leaves both queues and the attendee may ask again.
    await moderator.get_by_test_id("help-request").get_by_test_id("help-close").click()
    await expect(queue.get_by_test_id("help-request")).to_have_count(0)
    await expect(attendee.get_by_test_id("help-thread")).to_have_attribute("data-state", "closed")
    await expect(attendee.get_by_test_id("help-send")).to_be_visible()

    # Never shown to another attendee; markup stayed text.
    await expect(other.get_by_test_id("help-thread")).to_have_count(0)
    for page in (attendee, av, moderator):
        assert await page.evaluate("window.pwned") is None
    await shoot(av, "help-av-desk")
    assert not real_errors(errors), "\n".join(errors)
