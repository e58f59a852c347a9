"""End to end in Chromium: a speaker attaches the text of their statement from the attendee page; the
interpreter's and the captioner's pages list it with the queue and open it in the browser; the moderator
attaches one for an in-room speaker from the queue console; a wrong file is refused in words; the attendee
pages never show a statement."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, register_in_browser, shoot_part
from .helpers import Running
from .test_statements import PNG, pdf


async def test_statements_from_the_speaker_and_the_moderator_to_the_booths(
    hemicycle: Running, browser: Browser, tmp_path: Path
) -> None:
    errors: list[str] = []
    interpreter = await open_page(
        browser, await link(hemicycle, Role.INTERPRETER), errors, width=1300, connected=True
    )
    captioner = await open_page(
        browser, await link(hemicycle, Role.CAPTIONER), errors, width=1300, connected=True
    )
    moderator = await open_page(
        browser, await link(hemicycle, Role.MODERATOR), errors, width=1400, connected=True
    )
    speaker = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(speaker, "Ana Souza")
    listener = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1000)
    await register_in_browser(listener, "Bo Lindqvist")

    # The speaker raises a hand; the attach control appears with the request.
    await speaker.get_by_test_id("raise-hand").click()
    mine = speaker.get_by_test_id("my-statement")
    await expect(mine).to_be_visible()
    statement = tmp_path / "Brazil statement.pdf"
    statement.write_bytes(pdf("Statement of Brazil"))
    # A PNG renamed .pdf first: refused, in words.
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(PNG)
    await mine.get_by_test_id("statement-file").set_input_files(str(fake))
    refused = mine.get_by_test_id("error-message")
    await expect(refused).to_contain_text("neither a PDF nor plain text")
    await expect(refused).to_have_attribute("data-code", "statement_type")
    await mine.get_by_test_id("statement-file").set_input_files(str(statement))
    await expect(mine.get_by_test_id("statement-status")).to_contain_text("PDF attached")
    await expect(mine.get_by_test_id("statement-attach")).to_have_text("Replace the statement")
    await expect(refused).to_have_count(0)
    # Loaded again, the page still says it, from the speaker's own view of their request (not the file).
    await speaker.reload()
    mine = speaker.get_by_test_id("my-statement")
    await expect(mine.get_by_test_id("statement-status")).to_have_text(
        "Statement attached: Brazil statement.pdf"
    )
    await expect(mine.get_by_test_id("statement-attach")).to_have_text("Replace the statement")

    # The booth and the captioner see it with the queue, and open it in the browser.
    for page in (interpreter, captioner):
        item = page.get_by_test_id("statement-item").filter(has_text="Ana Souza")
        await expect(item).to_have_attribute("data-has", "true")
        await expect(item.get_by_test_id("statement-kind")).to_contain_text("PDF")
    await shoot_part(interpreter, "#statements-panel", "statements-booth")
    async with interpreter.context.expect_page() as opened:
        await (
            interpreter.get_by_test_id("statement-item")
            .filter(has_text="Ana Souza")
            .get_by_test_id("statement-open")
            .click()
        )
    tab = await opened.value
    # The file, fetched with the page's token, opened from a blob: the token never appears in a URL.
    await expect(tab).to_have_url(re.compile(r"^blob:http://127\.0\.0\.1:\d+/"))
    await tab.close()

    # The moderator attaches one for an in-room speaker from the queue console.
    floor = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    added = await floor.call(
        "queue:add_in_room",
        {"display_name": "Delegate of Kenya", "stakeholder_group": "government", "language": "en"},
    )
    assert added["ok"], added
    row = moderator.get_by_test_id("queue-entry").filter(has_text="Delegate of Kenya")
    await expect(row).to_be_visible()
    text = tmp_path / "kenya.txt"
    text.write_text("Thank you, Chair. Kenya welcomes the review.\n")
    await row.get_by_test_id("statement-file").set_input_files(str(text))
    await expect(row.get_by_test_id("statement-attach")).to_contain_text("Replace the statement")
    kenya = captioner.get_by_test_id("statement-item").filter(has_text="Delegate of Kenya")
    await expect(kenya.get_by_test_id("statement-kind")).to_contain_text("Text")

    # Attendees see no statement anywhere, nor the panel.
    for page in (speaker, listener):
        await expect(page.locator("#statements-panel")).to_have_count(0)
        await expect(page.get_by_test_id("statement-item")).to_have_count(0)
    await expect(listener.get_by_test_id("my-statement")).to_be_hidden()
    # The one error the console logged is the refused PNG, as the browser reports any 4xx.
    assert [e for e in real_errors(errors) if "415" not in e] == [], errors
    assert len(real_errors(errors)) == 1, errors
