"""End to end in Chromium: a captioner types and pastes lines; attendees read them under the video and the
room display shows the caption line, in live regions, with markup shown as text."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot, shoot_part
from .helpers import Running

HOSTILE = "<script>window.pwned = 1</script><b>not bold</b> & done"


async def test_captions_from_the_captioner_to_attendees_and_the_room(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    captioner = await open_page(browser, await link(hemicycle, Role.CAPTIONER), errors, connected=True)
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(attendee, "Zoë Okafor")

    # The attendee's captions sit under the video, in a polite live region that says nothing yet.
    under_video = attendee.locator("#media-section").get_by_test_id("captions")
    region = under_video.get_by_test_id("caption-lines")
    await expect(region).to_have_attribute("role", "log")
    await expect(region).to_have_attribute("aria-live", "polite")
    await expect(under_video.get_by_test_id("caption-language")).to_have_value("floor")
    await expect(under_video).to_contain_text("No captions yet.")
    display_region = display.get_by_test_id("caption-lines")
    await expect(display_region).to_have_attribute("aria-live", "polite")

    # The captioner, by keyboard only: the language, then a line and Enter.
    language = captioner.get_by_label("Caption language")
    await expect(language).to_have_value("floor")
    box = captioner.get_by_label("Caption line")
    await box.focus()
    await box.press_sequentially("Good morning and welcome to the opening session.")
    await box.press("Shift+Enter")  # a new line in the box, nothing sent
    await expect(captioner.get_by_test_id("caption-sent")).to_have_count(0)
    await box.press("Backspace")
    await box.press("Enter")
    await expect(box).to_have_value("")
    sent = captioner.get_by_test_id("caption-sent")
    await expect(sent).to_have_count(1)
    await expect(sent.first).to_contain_text("Good morning and welcome to the opening session.")
    await expect(sent.first.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-.*Z$"))

    line = region.get_by_test_id("caption-line")
    await expect(line).to_have_text(["Good morning and welcome to the opening session."])
    await expect(line.first).to_have_attribute("dir", "auto")
    await expect(display_region.get_by_test_id("caption-line")).to_have_text(
        ["Good morning and welcome to the opening session."]
    )

    # Markup is text, everywhere.
    await box.fill(HOSTILE)
    await box.press("Enter")
    await expect(line.last).to_have_text(HOSTILE)
    await expect(display_region.get_by_test_id("caption-line").last).to_have_text(HOSTILE)
    for page in (attendee, display, captioner):
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("[data-testid=caption-line] b, [data-testid=caption-sent] b").count() == 0

    # A block pasted from a captioning tool: one caption per line. The display keeps the last two.
    pasted = "The chair gives the floor to Kenya.\nThank you, Chair.\n\nمرحبا بكم جميعا"
    await box.focus()
    await captioner.evaluate(
        """text => {
            const data = new DataTransfer();
            data.setData('text/plain', text);
            document.getElementById('caption-input').dispatchEvent(
                new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        pasted,
    )
    await expect(sent).to_have_count(5)
    await expect(box).to_have_value("")
    await expect(line).to_have_text(
        ["The chair gives the floor to Kenya.", "Thank you, Chair.", "مرحبا بكم جميعا"]
    )
    await expect(display_region.get_by_test_id("caption-line")).to_have_text(
        ["Thank you, Chair.", "مرحبا بكم جميعا"]
    )

    # Another language: the attendee's choice shows only its lines; a reload keeps the recent ones.
    await language.select_option("fr")
    await box.fill("Bonjour à toutes et à tous.")
    await box.press("Enter")
    await expect(captioner.get_by_test_id("caption-sent")).to_have_count(1)
    await expect(display_region.get_by_test_id("caption-line").last).to_have_text("مرحبا بكم جميعا")
    await under_video.get_by_test_id("caption-language").select_option("fr")
    await expect(line).to_have_text(["Bonjour à toutes et à tous."])
    await attendee.reload()
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    reloaded = attendee.locator("#media-section").get_by_test_id("captions")
    await expect(reloaded.get_by_test_id("caption-language")).to_have_value("fr")
    await expect(reloaded.get_by_test_id("caption-line")).to_have_text(["Bonjour à toutes et à tous."])

    await shoot(captioner, "captions-captioner")
    await shoot_part(attendee, "#media-section", "captions-attendee")
    await shoot(display, "captions-display")
    assert not real_errors(errors), "\n".join(errors)
