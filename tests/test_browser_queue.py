"""End to end in Chromium: the speakers' queue and the floor, for attendees, floor staff and the display."""

from __future__ import annotations

import asyncio
import contextlib
import re

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot
from .helpers import Running

HAND = {"type": "statement", "language": "en"}
CLOCK = re.compile(r"\d+:\d\d")


async def test_queue_and_floor_across_pages(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    display = await open_page(browser, await link(hemicycle, Role.DISPLAY), errors)
    await expect(display.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)

    # An attendee registers through the form and asks for the floor.
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor", "civil_society", "KE")
    await attendee.get_by_label("Type of intervention").select_option("statement")
    await attendee.get_by_label("Language you will speak").select_option("en")
    await attendee.get_by_test_id("raise-hand").click()
    my_place = attendee.get_by_test_id("my-place")
    await expect(my_place).to_have_attribute("data-place", "1")
    await expect(my_place).to_contain_text("1st")
    await expect(attendee.get_by_test_id("lower-hand")).to_be_visible()

    # A second attendee, through the API and a Socket.IO client, comes second.
    registered = await hemicycle.register(
        display_name="Kofi Mensah", stakeholder_group="academic_technical", country="GH"
    )
    kofi = await hemicycle.join(registered["token"])
    raised = await kofi.call("hand:raise", {"type": "question", "language": "fr"})
    assert raised["ok"] and raised["data"]["place"] == 2, raised
    kofi_id = raised["data"]["entry"]["id"]

    queue = moderator.get_by_test_id("queue")
    entries = queue.get_by_test_id("queue-entry")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_contain_text("Zoë Okafor")
    await expect(entries.nth(1)).to_contain_text("Kofi Mensah")
    await expect(entries.nth(1)).to_contain_text("Question to the panel")
    await expect(entries.nth(1)).to_have_attribute("data-entry-id", str(kofi_id))
    await expect(display.get_by_test_id("next-speakers")).to_contain_text("Kofi Mensah")

    # The moderator moves the second to the top: the attendee's place follows; focus stays on that request.
    await queue.locator(f'[data-entry-id="{kofi_id}"]').get_by_test_id("move-top").click()
    await expect(entries.nth(0)).to_contain_text("Kofi Mensah")
    await expect(my_place).to_have_attribute("data-place", "2")
    await expect(my_place).to_contain_text("2nd")
    focused = await moderator.evaluate(
        "document.activeElement.closest('[data-entry-id]')?.dataset.entryId ?? null"
    )
    assert focused == str(kofi_id), "keyboard focus stays with the request that moved"
    await shoot(attendee, "queue-attendee-waiting")

    # The moderator gives the floor to the browser attendee.
    await entries.filter(has_text="Zoë Okafor").get_by_test_id("grant").click()
    await expect(attendee.get_by_test_id("finish-turn")).to_be_visible()
    await expect(attendee.locator("#floor-section")).to_contain_text("You have the floor")
    countdown = attendee.get_by_test_id("countdown")
    await expect(countdown).to_have_attribute("data-phase", "speaking")
    await expect(countdown).to_contain_text(CLOCK)
    await expect(attendee.get_by_test_id("floor-speaker")).to_have_text("Zoë Okafor")

    await expect(display.get_by_test_id("floor-speaker")).to_have_text("Zoë Okafor")
    await expect(display.get_by_test_id("countdown")).to_be_visible()
    await expect(display.get_by_test_id("countdown")).to_have_attribute("data-phase", "speaking")
    await expect(display.get_by_test_id("next-speakers")).to_contain_text("Kofi Mensah")
    await expect(display.locator("body")).to_contain_text("Civil society")
    await expect(moderator.get_by_test_id("floor-speaker")).to_have_text("Zoë Okafor")
    await expect(entries).to_have_count(1)

    # The countdown runs by itself between server messages.
    first = await display.get_by_test_id("countdown").locator(".countdown-clock").text_content()
    await asyncio.sleep(1.3)
    second = await display.get_by_test_id("countdown").locator(".countdown-clock").text_content()
    assert first != second, f"the countdown did not move: {first!r} then {second!r}"

    # +1 min shows on every page's countdown.
    before = await kofi.wait_for("floor", lambda f: f["speaking"] is not None)
    await moderator.get_by_test_id("add-time").click()
    after = await kofi.wait_for(
        "floor", lambda f: f["timer"] and f["timer"]["allowed_seconds"] > before["timer"]["allowed_seconds"]
    )
    assert after["timer"]["allowed_seconds"] == before["timer"]["allowed_seconds"] + 60
    allowed_minutes = after["timer"]["allowed_seconds"] // 60
    await expect(display.get_by_test_id("countdown")).to_contain_text(f"of {allowed_minutes} minutes")

    await shoot(moderator, "queue-moderator")
    await shoot(attendee, "queue-attendee-floor")
    await shoot(display, "queue-display")

    # The moderator revokes: the display empties, the record shows the intervention.
    await moderator.get_by_test_id("revoke-turn").click()
    await expect(display.get_by_test_id("floor-speaker")).to_have_text("")
    await expect(display.get_by_test_id("countdown")).to_be_hidden()
    await shoot(display, "queue-display-idle")
    record = moderator.get_by_test_id("record")
    await expect(record.get_by_test_id("record-entry")).to_have_count(1)
    await expect(record).to_contain_text("Zoë Okafor")
    await expect(record).to_contain_text("Revoked")
    await expect(attendee.get_by_test_id("raise-hand")).to_be_visible()
    await expect(attendee.get_by_test_id("floor-speaker")).to_have_text("")

    # A name holding markup is shown as text.
    hostile = await hemicycle.register(display_name="<b>x</b> Bold")
    bold = await hemicycle.join(hostile["token"])
    assert (await bold.call("hand:raise", HAND))["ok"]
    await expect(entries).to_have_count(2)
    await expect(queue).to_contain_text("<b>x</b> Bold")
    assert await queue.locator("b").count() == 0, "markup in a name is shown as text"
    await expect(display.get_by_test_id("next-speakers")).to_contain_text("<b>x</b> Bold")
    await shoot(moderator, "queue-moderator-after")

    for page in (moderator, display, attendee):
        assert not await page.locator("[data-testid=error-message]").count()
    assert not real_errors(errors), errors


async def test_moderator_controls_and_attendee_errors(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(moderator.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Amina Diallo", "government", "SN")

    # An in-room request, with consent to give gender and age band.
    form = moderator.get_by_test_id("add-in-room")
    await form.get_by_label("Name").fill("H.E. Ms. Rosa Álvarez")
    await form.get_by_label("Affiliation").fill("Permanent Mission of Chile")
    await form.get_by_label("Stakeholder group").select_option("government")
    await form.get_by_label("Country").fill("CL")
    await form.get_by_label("Type of intervention").select_option("right_of_reply")
    await form.get_by_label("Language", exact=True).select_option("es")
    assert not await form.get_by_label("Gender", exact=True).is_visible()
    await form.get_by_label("The person agrees", exact=False).check()
    await form.get_by_label("Gender", exact=True).select_option("woman")
    await form.locator("button[type=submit]").click()
    queue = moderator.get_by_test_id("queue")
    entries = queue.get_by_test_id("queue-entry")
    await expect(entries).to_have_count(1)
    await expect(entries.nth(0)).to_contain_text("H.E. Ms. Rosa Álvarez")
    await expect(entries.nth(0)).to_contain_text("In the room")
    await expect(entries.nth(0)).to_contain_text("Right of reply")
    await expect(moderator.get_by_test_id("suggestion")).to_contain_text("H.E. Ms. Rosa Álvarez")
    await expect(moderator.get_by_test_id("balance")).to_contain_text("Government")

    # The attendee's raised hand goes after the right of reply; the moderator removes it, with a reason.
    await attendee.get_by_test_id("raise-hand").click()
    await expect(attendee.get_by_test_id("my-place")).to_have_attribute("data-place", "2")
    await expect(entries).to_have_count(2)
    # Keyboard: Alt+Up moves the request that has focus, and focus stays on it.
    await entries.filter(has_text="Amina Diallo").get_by_test_id("grant").focus()
    await moderator.keyboard.press("Alt+ArrowUp")
    await expect(entries.nth(0)).to_contain_text("Amina Diallo")
    await expect(attendee.get_by_test_id("my-place")).to_have_attribute("data-place", "1")
    await expect(entries.nth(0).get_by_test_id("grant")).to_be_focused()
    await entries.filter(has_text="Amina Diallo").get_by_test_id("remove").click()
    dialog = moderator.get_by_test_id("remove-dialog")
    await dialog.get_by_role("button", name="Remove").click()
    await expect(dialog.locator(".error")).to_contain_text("required")
    await dialog.get_by_label("Reason").fill("off topic")
    await dialog.get_by_role("button", name="Remove").click()
    await expect(entries).to_have_count(1)
    await expect(attendee.get_by_test_id("raise-hand")).to_be_visible()
    await expect(attendee.locator("#floor-section")).to_contain_text("no longer raised")

    # Speaking-time settings, then the chair-like "Give the floor to next" and End turn.
    settings = moderator.get_by_test_id("queue-settings")
    await settings.get_by_label("Minutes", exact=True).fill("2")
    await settings.get_by_label("Seconds", exact=True).fill("0")
    await settings.get_by_label("End turns automatically", exact=False).check()
    await settings.get_by_label("Grace", exact=False).fill("15")
    await settings.locator("button[type=submit]").click()
    await expect(settings).to_contain_text("Saved")
    await moderator.get_by_test_id("grant-next").click()
    await expect(moderator.get_by_test_id("floor-speaker")).to_have_text("H.E. Ms. Rosa Álvarez")
    await expect(moderator.get_by_test_id("countdown")).to_contain_text("of 2 minutes")
    await moderator.get_by_test_id("end-turn").click()
    await expect(moderator.get_by_test_id("floor-speaker")).to_have_text("")
    record = moderator.get_by_test_id("record")
    await expect(record).to_contain_text("Finished")
    await expect(record).to_contain_text("H.E. Ms. Rosa Álvarez")

    # Too many hand actions from one participant (all their tabs count): the page says so in words.
    token = await attendee.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('hemicycle.token.'))"
        ".map((k) => localStorage[k])[0]"
    )
    other_tab = await hemicycle.join(token)
    # Each hand action counts, refused or not: lowering a hand that is down uses up the allowance.
    answers = [await other_tab.call("hand:lower") for _ in range(10)]
    assert answers[0]["error"]["code"] == "not_queued"
    assert answers[-1]["error"]["code"] == "rate_limited", answers

    async def keep_using_the_allowance() -> None:  # the allowance refills: keep it empty meanwhile
        while True:
            await other_tab.call("hand:lower")
            await asyncio.sleep(0.05)

    burner = asyncio.create_task(keep_using_the_allowance())
    error = attendee.locator("#floor-section [data-testid=error-message]")
    try:
        for _attempt in range(3):
            raise_hand = attendee.get_by_test_id("raise-hand")
            lower_hand = attendee.get_by_test_id("lower-hand")
            await (raise_hand if await raise_hand.is_visible() else lower_hand).click()
            with contextlib.suppress(AssertionError):
                await expect(error).to_have_attribute("data-code", "rate_limited", timeout=3000)
                break
    finally:
        burner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await burner
    await expect(error).to_have_attribute("data-code", "rate_limited")
    await expect(error).to_contain_text("Wait a few seconds")

    # Lower all hands, after confirming.
    registered = await hemicycle.register(display_name="Li Wei", country="CN")
    li = await hemicycle.join(registered["token"])
    assert (await li.call("hand:raise", HAND))["ok"]
    await expect(entries).to_have_count(1)
    await moderator.get_by_test_id("lower-all").click()
    await moderator.get_by_test_id("lower-all-dialog").get_by_role("button", name="Lower all hands").click()
    await expect(entries).to_have_count(0)

    # The session ends: the attendee cannot ask for the floor any more, and the page says why.
    await moderator.get_by_test_id("state-end").click()
    await moderator.get_by_test_id("end-session-dialog").get_by_role("button", name="End session").click()
    await expect(attendee.get_by_test_id("raise-hand")).to_be_disabled()
    await expect(attendee.locator("#floor-section")).to_contain_text("The session has ended")
    await shoot(moderator, "queue-moderator-controls")
    await shoot(attendee, "queue-attendee-ended")
    assert not real_errors(errors), errors


async def test_chair_and_staff_consoles_show_the_floor(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors)
    await expect(chair.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    display = await open_page(browser, await link(hemicycle, Role.DISPLAY), errors)
    await expect(display.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    registered = await hemicycle.register(display_name="Kofi Mensah", country="GH")
    kofi = await hemicycle.join(registered["token"])
    assert (await kofi.call("hand:raise", HAND))["ok"]
    await expect(chair.get_by_test_id("next-speakers")).to_contain_text("Kofi Mensah")
    await chair.get_by_test_id("grant-next").click()
    await expect(chair.get_by_test_id("floor-speaker")).to_have_text("Kofi Mensah")
    await expect(chair.get_by_test_id("countdown")).to_contain_text(CLOCK)
    mine = await kofi.wait_for("queue:mine", lambda m: m["timer"] is not None)
    assert mine["entry"]["state"] == "speaking"

    pages = {}
    for role in (Role.AV, Role.CAPTIONER, Role.INTERPRETER):
        page = await open_page(browser, await link(hemicycle, role), errors)
        await expect(page.get_by_test_id("floor-speaker")).to_have_text("Kofi Mensah")
        await expect(page.get_by_test_id("countdown")).to_have_attribute("data-phase", "speaking")
        assert not await page.get_by_test_id("end-turn").count(), "read-only for this role"
        pages[role] = page
    await shoot(chair, "queue-chair")
    await shoot(pages[Role.AV], "queue-av")

    # The display's clock jumps 2 min 40 s ahead: the countdown turns amber ("ending"), and says so.
    jumped = await display.evaluate("Date.now()") + 160_000
    await display.clock.set_system_time(jumped / 1000)
    await expect(display.get_by_test_id("countdown")).to_have_attribute("data-phase", "ending")
    await expect(display.get_by_test_id("countdown")).to_contain_text("please conclude")
    await shoot(display, "queue-display-ending")
    # The next message from the server (a new hand) carries its clock: the display counts right again.
    late = await hemicycle.register(display_name="Li Wei", country="CN")
    li = await hemicycle.join(late["token"])
    assert (await li.call("hand:raise", HAND))["ok"]
    await expect(display.get_by_test_id("next-speakers")).to_contain_text("Li Wei")
    await expect(display.get_by_test_id("countdown")).to_have_attribute("data-phase", "speaking")

    # Past the deadline every countdown turns to "over", in words as well as colour. Time can be cut down to
    # the shortest turn the rules allow (15 s), so the deadline comes within seconds.
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    cut = await moderator.call("floor:time", {"entry_id": mine["entry"]["id"], "add_seconds": -180})
    assert cut["ok"] and cut["data"]["extra_seconds"] == 15 - 180, cut
    for page in (display, chair, pages[Role.AV]):
        await expect(page.get_by_test_id("countdown")).to_have_attribute("data-phase", "over", timeout=20_000)
        await expect(page.get_by_test_id("countdown")).to_contain_text("Time is up")
    await shoot(display, "queue-display-over")

    # The speaker finishes their own turn; every page follows.
    assert (await kofi.call("floor:end", {"entry_id": mine["entry"]["id"]}))["ok"]
    for page in (chair, display, *pages.values()):
        await expect(page.get_by_test_id("floor-speaker")).to_have_text("")
    assert not real_errors(errors), errors


async def test_countdown_helper(hemicycle: Running, browser: Browser) -> None:
    """js/timer.js in the browser: the clock offset from server_time, the phases, the words."""
    errors: list[str] = []
    page = await open_page(browser, f"{hemicycle.url}/", errors)
    result = await page.evaluate(
        """async () => {
          const { Countdown, phaseOf, formatDuration, parseTime } = await import('/static/js/timer.js');
          const local = Date.parse('2025-05-27T10:00:00Z');
          // The server's clock is five minutes ahead of this device's; 100 s of 180 are left by the server.
          const timer = {
            granted_at: '2025-05-27T10:04:20.000000Z', deadline: '2025-05-27T10:06:40.123456Z',
            allowed_seconds: 180, server_time: '2025-05-27T10:05:00.123456Z', remaining_seconds: 100,
            phase: 'speaking',
          };
          const c = new Countdown(timer, local);
          return {
            start: c.read(local),
            ending: c.read(local + 75_000),
            over: c.read(local + 112_000),
            short: [phaseOf(3, 15), phaseOf(4, 15), phaseOf(-0.1, 15)],
            long: [phaseOf(30, 3600), phaseOf(31, 3600)],
            formats: [formatDuration(0), formatDuration(65), formatDuration(3725)],
            micro: parseTime('2025-05-27T10:00:00.999999Z') - local,
          };
        }"""
    )
    assert result["start"]["phase"] == "speaking" and result["start"]["clock"] == "1:40"
    assert result["ending"]["phase"] == "ending" and result["ending"]["text"] == "Ending: 0:25 left"
    assert result["over"]["phase"] == "over" and result["over"]["text"] == "Over time by 0:12"
    assert result["short"] == ["ending", "speaking", "over"]
    assert result["long"] == ["ending", "speaking"]
    assert result["formats"] == ["0:00", "1:05", "1:02:05"]
    assert result["micro"] == 999
    assert not real_errors(errors), errors


async def test_the_queue_marks_who_is_not_connected(hemicycle: Running, browser: Browser) -> None:
    """A request keeps its place when its holder drops; the moderator sees they are not connected, and the
    mark goes when they come back."""
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors, connected=True)
    registered = await hemicycle.register(
        display_name="Kofi Mensah", stakeholder_group="academic_technical", country="GH"
    )
    kofi = await hemicycle.join(registered["token"])
    raised = await kofi.call("hand:raise", HAND)
    assert raised["ok"], raised
    entry = moderator.get_by_test_id("queue").locator(f'[data-entry-id="{raised["data"]["entry"]["id"]}"]')
    await expect(entry).to_be_visible()
    await expect(entry.get_by_test_id("entry-away")).to_have_count(0)

    await kofi.close()
    await expect(entry.get_by_test_id("entry-away")).to_have_text("Not connected")
    await expect(entry).to_have_attribute("data-away", "true")
    await shoot(moderator, "queue-not-connected")

    back = await hemicycle.join(registered["token"])
    try:
        await expect(entry.get_by_test_id("entry-away")).to_have_count(0)
        await expect(entry).not_to_have_attribute("data-away", "true")
    finally:
        await back.close()
    assert not real_errors(errors), errors


async def test_a_change_elsewhere_in_the_queue_leaves_the_focused_request_alone(
    hemicycle: Running, browser: Browser
) -> None:
    """A request's item is rebuilt only when something it shows changed: a hand raised or lowered below it
    leaves the focused item, and the focus in it, where they were (a screen reader's place does not jump);
    an item that moves is rebuilt, and focus goes back to the same control."""
    errors: list[str] = []
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors, connected=True)
    people = []
    for name in ("Amina Diallo", "Kofi Mensah", "Lena Weber"):
        registered = await hemicycle.register(display_name=name)
        people.append(await hemicycle.join(registered["token"]))
    try:
        amina, kofi, lena = people
        for person in (amina, kofi):
            assert (await person.call("hand:raise", HAND))["ok"]
        entries = moderator.get_by_test_id("queue").get_by_test_id("queue-entry")
        await expect(entries).to_have_count(2)
        # Settled first: until the roster counts them, a request is marked "Not connected" (which it shows).
        await expect(entries.get_by_test_id("entry-away")).to_have_count(0)
        first = entries.filter(has_text="Amina Diallo")
        await first.get_by_test_id("grant").focus()
        # A mark on the DOM node itself: a rebuilt item would not carry it.
        await first.evaluate("node => { node.keptFromBefore = true; }")

        raised = await lena.call("hand:raise", HAND)
        assert raised["ok"], raised
        await expect(entries).to_have_count(3)
        assert (await kofi.call("hand:lower", {}))["ok"]
        await expect(entries).to_have_count(2)
        assert await first.evaluate("node => node.keptFromBefore === true"), "the item was rebuilt"
        await expect(first.get_by_test_id("grant")).to_be_focused()

        # Lena moved to the top: Amina's place changes, her item is rebuilt, focus comes back to it.
        chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
        people.append(chair)
        moved = await chair.call("queue:move", {"entry_id": raised["data"]["entry"]["id"], "to": "top"})
        assert moved["ok"], moved
        await expect(entries.nth(0)).to_contain_text("Lena Weber")
        assert not await first.evaluate("node => node.keptFromBefore === true")
        await expect(first.get_by_test_id("grant")).to_be_focused()
    finally:
        for person in people:
            await person.close()
    assert not real_errors(errors), errors
