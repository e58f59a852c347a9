"""End to end in Chromium: a moderator prepares a poll, edits and opens it; attendees answer (and change
their answer) on their page; staff see live counts; the room display and attendees see the results only once
the moderator shows them; markup in a poll is text."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot, shoot_part
from .helpers import Running

HOSTILE = "<b>Bold?</b> & <script>window.pwned = 1</script>"


async def test_a_poll_from_the_moderator_to_attendees_and_the_room(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    moderator = await open_page(
        browser, await link(hemicycle, Role.MODERATOR), errors, width=1400, connected=True
    )
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(attendee, "Zoë Okafor")
    polls = attendee.locator("#polls-section")
    await expect(polls).to_be_hidden()

    # Prepared, by keyboard: the kind, the question, the options; then edited while a draft.
    section = moderator.locator("#polls-panel")
    await section.get_by_label("Kind of poll").select_option("single")
    await section.get_by_label("Question").fill("Which topic first?")
    await section.get_by_label("Options, one per line").fill("Access\nSkills\n" + HOSTILE)
    await section.get_by_label("Question").press("Tab")
    await section.get_by_test_id("poll-save").click()
    item = section.get_by_test_id("poll")
    await expect(item).to_have_count(1)
    await expect(item).to_have_attribute("data-state", "draft")
    await item.locator("[data-action=edit]").click()
    await expect(section.get_by_label("Question")).to_be_focused()
    await section.get_by_label("Question").fill("Which topic first? (edited)")
    await section.get_by_test_id("poll-save").click()
    await expect(item.locator("h3")).to_have_text("Which topic first? (edited)")
    await expect(polls).to_be_hidden()

    # Opened: the attendee's panel shows it, with a form and no results.
    await item.locator("[data-action=open]").click()
    await expect(item).to_have_attribute("data-state", "open")
    await expect(polls).to_be_visible()
    form = polls.get_by_test_id("poll-form")
    await expect(polls.locator("h3")).to_have_text("Which topic first? (edited)")
    await expect(polls.get_by_test_id("poll-results")).to_have_count(0)
    await form.get_by_label("Access").check()
    await form.get_by_role("button", name="Send answer").click()
    await expect(form.get_by_role("status")).to_contain_text("Answer saved.")
    # Changed: counted once, under the new choice.
    await form.get_by_label(HOSTILE).check()
    await form.get_by_role("button").click()
    await expect(form.get_by_role("status")).to_contain_text(HOSTILE)

    # Staff see live counts, by group and region, with small groups hidden.
    results = item.get_by_test_id("poll-results")
    await expect(results).to_contain_text("1 answer")
    await expect(results.locator("tbody tr").nth(2).locator("td").first).to_contain_text("1")
    await expect(results).to_contain_text("fewer than 5")
    await expect(display.get_by_test_id("poll")).to_have_count(0)

    # Shown: the room display and the attendee get the results.
    await item.locator("[data-action=show]").click()
    shown = display.get_by_test_id("poll")
    await expect(shown).to_have_count(1)
    await expect(shown.get_by_test_id("poll-results")).to_contain_text("1 answer")
    await expect(shown).to_contain_text(HOSTILE)
    await expect(polls.get_by_test_id("poll-results")).to_contain_text("1 answer")
    for page in (attendee, display, moderator):
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("[data-testid=poll] b").count() == 0

    # Another language, in place: the panel's words change, the poll's text stays as typed.
    await attendee.get_by_test_id("language-picker").select_option("fr")
    await expect(polls.get_by_role("heading", name="Sondages")).to_be_visible()
    await expect(form.get_by_role("button")).to_have_text("Modifier ma réponse")
    await expect(polls.get_by_test_id("poll-results")).to_contain_text("1 réponse")
    await expect(polls.locator("h3")).to_have_text("Which topic first? (edited)")

    # Closed: the attendee's form gives way to their answer.
    await item.locator("[data-action=close]").click()
    await expect(polls.get_by_test_id("poll")).to_have_attribute("data-state", "closed")
    await expect(polls.get_by_test_id("poll-form")).to_have_count(0)
    await expect(polls.get_by_test_id("poll-answer")).to_contain_text(HOSTILE)

    await shoot_part(moderator, "#polls-panel", "polls-moderator")
    await shoot_part(attendee, "#polls-section", "polls-attendee")
    await shoot(display, "polls-display")
    assert not real_errors(errors), "\n".join(errors)


async def test_typing_in_a_poll_goes_on_while_the_list_changes(hemicycle: Running, browser: Browser) -> None:
    """An update of the polls (another poll opened, results shown, a poll closed) leaves the section being
    typed in where it is: the field keeps the focus and the words, and the person's next keys land in it."""
    errors: list[str] = []
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    staff = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    made = []
    for kind, options in (("text", []), ("single", ["Yes", "No"]), ("rating", [])):
        reply = await staff.call(
            "poll:create", {"kind": kind, "question": f"A {kind} poll?", "options": options}
        )
        made.append(reply["data"]["poll"]["id"])
    await staff.call("poll:open", {"poll_id": made[0]})
    polls = attendee.locator("#polls-section")
    field = polls.get_by_label("A few words")
    await field.click()
    await field.press_sequentially("Open ")
    await attendee.evaluate(
        "window.kept = document.querySelector('[data-testid=poll-form]').closest('[data-testid=poll]')"
    )

    # Each of these sends the attendee a new list of polls.
    await staff.call("poll:open", {"poll_id": made[1]})
    await expect(polls.get_by_test_id("poll-form")).to_have_count(2)
    await expect(field).to_be_focused()
    await field.press_sequentially("data")
    await staff.call("poll:results", {"poll_id": made[1], "shown": True})
    await expect(polls.get_by_test_id("poll-results")).to_have_count(1)
    await staff.call("poll:open", {"poll_id": made[2]})
    await staff.call("poll:close", {"poll_id": made[1]})
    await expect(polls.get_by_test_id("poll-form")).to_have_count(2)
    await expect(polls.get_by_test_id("poll").first).to_contain_text("A rating poll?")  # newest first
    await expect(field).to_be_focused()
    await field.press_sequentially(", please")
    await expect(field).to_have_value("Open data, please")
    # The same section throughout, not one made again.
    assert await attendee.evaluate(
        "window.kept === document.querySelector('#polls-section input[type=text]')"
        ".closest('[data-testid=poll]')"
    )

    await field.press("Enter")
    await expect(polls.get_by_role("status").filter(has_text="Answer saved.")).to_have_count(1)
    mine = await staff.call("poll:results", {"poll_id": made[0], "shown": True})
    assert mine["ok"], mine
    await expect(polls.get_by_test_id("poll-results")).to_have_count(2)
    assert not real_errors(errors), "\n".join(errors)
