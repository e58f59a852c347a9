"""End to end in Chromium: the interface in the reader's language (web/js/i18n.js and web/i18n/*.json).

The picker switches the page to the chosen language (in place where the page can say its words again, else by
reloading it) and the choice is remembered; `?lang=ar` lays the page
out right to left; a message a catalogue lacks, or a catalogue that cannot be loaded, leaves English words;
an attendee registers and raises a hand in French.
Screenshots of the attendee page and the moderator console in French and Arabic go to test-artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role

from .browser import PROJECTORS, SIZES, link, open_page, real_errors, shoot, shoot_sizes
from .helpers import Running

CATALOGUES = Path(__file__).resolve().parent.parent / "web" / "i18n"


def with_language(url: str, code: str) -> str:
    """The same link with ?lang= before its #fragment (where staff links carry their token)."""
    address, _, fragment = url.partition("#")
    joined = f"{address}{'&' if '?' in address else '?'}lang={code}"
    return f"{joined}#{fragment}" if fragment else joined


async def connected(page: Page) -> None:
    await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")


async def test_picker_switches_language_and_remembers_it(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    home = await open_page(browser, f"{hemicycle.url}/", errors)
    await expect(home.locator("html")).to_have_attribute("lang", "en")
    await expect(home.locator("h1")).to_have_text("Events")
    picker = home.get_by_test_id("language-picker")
    await expect(picker).to_have_value("en")
    await expect(home.get_by_label("Language")).to_be_visible()

    await picker.select_option("fr")
    await expect(home.locator("html")).to_have_attribute("lang", "fr")
    await expect(home.locator("h1")).to_have_text("Événements")
    await expect(home.get_by_test_id("join").first).to_have_text("Rejoindre")
    await expect(home.locator("[data-testid=session-state][data-state=live]").first).to_have_text("En cours")
    await expect(home.get_by_test_id("language-picker")).to_have_value("fr")
    await expect(home.get_by_label("Langue")).to_be_visible()

    # Remembered on this browser: a page opened without ?lang is in French too, page title included.
    await home.goto(f"{hemicycle.url}/s/{hemicycle.live_session}")
    await expect(home.locator("html")).to_have_attribute("lang", "fr")
    await expect(home.locator("#register-submit")).to_have_text("S’inscrire et suivre")
    await expect(home.get_by_label("Nom", exact=False).first).to_be_visible()
    await expect(home.locator("#stakeholder_group option[value=government]")).to_have_text("Gouvernement")
    await home.reload()
    await expect(home.locator("html")).to_have_attribute("lang", "fr")
    await expect(home.locator("#register-heading")).to_have_text("S’inscrire pour suivre cette séance")

    # Back to English through the picker, in place: what was typed and chosen in the form stays.
    await home.fill("#display_name", "Zoë Okafor")
    await home.select_option("#stakeholder_group", "civil_society")
    await home.evaluate("() => { window.sameDocument = true; }")
    await home.get_by_test_id("language-picker").select_option("en")
    await expect(home.locator("html")).to_have_attribute("lang", "en")
    await expect(home.locator("#register-submit")).to_have_text("Register and follow")
    await expect(home.locator("#stakeholder_group option[value=civil_society]")).to_have_text("Civil society")
    await expect(home.locator("#stakeholder_group option[value='']")).to_have_text(
        "Choose your stakeholder group"
    )
    await expect(home.locator("#stakeholder_group")).to_have_value("civil_society")
    await expect(home.locator("#display_name")).to_have_value("Zoë Okafor")
    assert await home.evaluate("() => window.sameDocument === true"), "the page was not reloaded"
    assert not real_errors(errors), errors


async def test_arabic_right_to_left_with_english_fallback(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    attendee = await open_page(
        browser, with_language(f"{hemicycle.url}/s/{hemicycle.live_session}", "ar"), errors
    )
    html = attendee.locator("html")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(html).to_have_attribute("lang", "ar")
    await expect(attendee.locator("#register-submit")).to_have_text("التسجيل والمتابعة")
    await attendee.fill("#display_name", "أمينة ديالو")
    await attendee.fill("#affiliation", "Civil Society Coalition")
    await attendee.select_option("#stakeholder_group", "civil_society")
    await attendee.fill("#country", "KE")
    await attendee.locator("#register-submit").click()
    await connected(attendee)
    await expect(attendee.get_by_test_id("raise-hand")).to_have_text("طلب الكلمة")
    # The person's name runs in its own direction; the page's words are Arabic.
    await expect(attendee.get_by_test_id("me").locator("[dir=auto]")).to_have_text("أمينة ديالو")
    await shoot(attendee, "i18n-attend-ar")
    await shoot_sizes(attendee, "i18n-attend-ar")

    # A message the catalogue lacks shows in English: here the catalogue is served without one of them.
    missing = "Add to the queue"
    catalogue = json.loads((CATALOGUES / "ar.json").read_text(encoding="utf-8"))
    del catalogue["messages"][missing]
    del catalogue["messages"]["Skip to main content"]
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    moderator = await context.new_page()
    moderator.on("pageerror", lambda exc: errors.append(f"moderator: {exc}"))
    await moderator.route(
        "**/static/i18n/ar.json",
        lambda route: route.fulfill(json=catalogue),
    )
    await moderator.goto(with_language(await link(hemicycle, Role.MODERATOR), "ar"))
    await connected(moderator)
    await expect(moderator.locator("html")).to_have_attribute("dir", "rtl")
    await expect(moderator.locator("#floor-heading")).to_have_text("الكلمة")
    await expect(moderator.get_by_role("button", name=missing)).to_be_visible()
    # Static text left in English says so, for screen readers.
    skip = moderator.locator(".skip-link")
    await expect(skip).to_have_attribute("lang", "en")
    await expect(skip).to_have_text("Skip to main content")
    # Remembered for the next page too (the link asked for Arabic).
    await expect(moderator.get_by_test_id("language-picker")).to_have_value("ar")
    await shoot(moderator, "i18n-moderator-ar")
    await shoot_sizes(moderator, "i18n-moderator-ar")

    # The room display: right to left, the countdown's clock still reads left to right.
    display = await open_page(browser, with_language(await link(hemicycle, Role.DISPLAY), "ar"), errors)
    await connected(display)
    await expect(display.locator("html")).to_have_attribute("dir", "rtl")
    await expect(display.locator("#remote-words")).to_have_text("شخص يتابع عن بُعد")
    await shoot(display, "i18n-display-ar")
    await shoot_sizes(display, "i18n-display-ar", {**SIZES, **PROJECTORS})

    assert not real_errors(errors), errors

    # A catalogue that cannot be loaded: English words, still laid out right to left.
    await attendee.route("**/static/i18n/ar.json", lambda route: route.abort())
    await attendee.reload()
    await expect(attendee.locator("html")).to_have_attribute("dir", "rtl")
    await expect(attendee.get_by_test_id("raise-hand")).to_have_text("Ask for the floor")
    assert all("Failed to load resource" in e for e in real_errors(errors)), errors


async def test_attendee_registers_and_raises_a_hand_in_french(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, with_language(await link(hemicycle, Role.MODERATOR), "fr"), errors)
    await connected(moderator)
    await expect(moderator.get_by_test_id("connection-state")).to_have_text("Connecté.")
    assert (await moderator.title()).endswith(" — Modérateur — Hemicycle")

    attendee = await open_page(
        browser, with_language(f"{hemicycle.url}/s/{hemicycle.live_session}", "fr"), errors
    )
    form = attendee.get_by_test_id("register-form")
    await form.get_by_label("Nom", exact=False).first.fill("Zoë Okafor")
    await form.get_by_label("Affiliation", exact=False).fill("Civil Society Coalition")
    await form.get_by_label("Groupe de parties prenantes", exact=False).select_option("civil_society")
    await form.get_by_label("Pays", exact=False).fill("Kenya")  # a country's name in French
    await form.locator("button[type=submit]").click()
    await connected(attendee)
    await expect(attendee.get_by_test_id("session-state")).to_have_text("En cours")

    await attendee.get_by_label("Type d’intervention").select_option("point_of_order")
    await attendee.get_by_label("Langue dans laquelle vous parlerez").select_option("fr")
    await attendee.get_by_role("button", name="Demander la parole").click()
    place = attendee.get_by_test_id("my-place")
    await expect(place).to_have_attribute("data-place", "1")
    await expect(place).to_have_text("Vous êtes 1er sur 1 dans la liste")
    await expect(attendee.get_by_test_id("lower-hand")).to_have_text("Baisser la main")

    entry = moderator.get_by_test_id("queue").get_by_test_id("queue-entry")
    await expect(entry).to_contain_text("Zoë Okafor")
    await expect(entry).to_contain_text("Motion d’ordre")
    await expect(entry).to_contain_text("Kenya")
    await shoot(attendee, "i18n-attend-fr")
    await shoot(moderator, "i18n-moderator-fr")
    await shoot_sizes(moderator, "i18n-moderator-fr")

    await attendee.get_by_test_id("lower-hand").click()
    await expect(attendee.get_by_test_id("raise-hand")).to_be_visible()
    await expect(attendee.locator(".my-status")).to_have_text("Vous avez baissé la main.")
    await expect(entry).to_have_count(0)

    # The audit log in French too: the action and its details in words, at the event's time (the browser's
    # clock is UTC, the event is in Europe/Zurich), like the rest of the console.
    await attendee.get_by_role("button", name="Demander la parole").click()
    await entry.get_by_test_id("grant").click()
    granted = moderator.locator('[data-testid="audit-entry"][data-action="floor.grant"]')
    await expect(granted).to_have_count(1)
    await expect(granted).to_contain_text("Parole donnée")
    await expect(granted).to_contain_text("Nom : Zoë Okafor")
    await expect(granted).not_to_contain_text("floor.grant")
    await expect(granted).not_to_contain_text("limit_seconds")
    zoned = await granted.locator("time").evaluate(
        """(node) => new Intl.DateTimeFormat('fr', { timeStyle: 'medium', timeZone: 'Europe/Zurich' })
            .format(new Date(node.getAttribute('datetime')))"""
    )
    await expect(granted.locator("time")).to_have_text(zoned)
    await shoot(moderator, "i18n-moderator-fr-audit")
    assert not real_errors(errors), errors
