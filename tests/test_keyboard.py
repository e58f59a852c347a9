"""The keyboard alone, in Chromium: no mouse click anywhere. An attendee registers, asks for the floor and
lowers their hand; the moderator reorders the queue with Alt+↑/↓ and gives the floor; dialogs keep focus
inside and give it back. Focus is visible on every control reached, and what changes is said through the live
region. Also the chair's touch targets on a tablet, and reduced motion."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from server.domain.roles import Role

from .browser import CONNECTED, link, open_page, real_errors, register_in_browser, shoot_part
from .helpers import Client, Running

HAND = {"type": "statement", "language": "en"}
TABLET = {"width": 1024, "height": 768}

pytestmark = pytest.mark.timeout(240)

# Every text the page's live region (#announcer) shows, in order, kept in window.__announced: what a screen
# reader would say. Installed before the page's own scripts run.
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
document.addEventListener('DOMContentLoaded', () => {
  const region = document.getElementById('announcer');
  if (!region) return;
  new MutationObserver(() => {
    const text = region.textContent.trim();
    if (text) window.__announced.push(text);
  }).observe(region, { childList: true, characterData: true, subtree: true });
});
"""

# Whether the focused element shows it: an outline of 2 px or more, or a box shadow, drawn by :focus-visible.
FOCUS_SHOWN = """() => {
  const node = document.activeElement;
  if (!node || node === document.body) return null;
  const style = getComputedStyle(node);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  const shadow = style.boxShadow !== 'none';
  const what = node.tagName.toLowerCase() + (node.id ? '#' + node.id : '')
    + (node.dataset.testid ? `[data-testid=${node.dataset.testid}]` : '');
  return { what, shown: outline || shadow, matches: node.matches(':focus-visible') };
}"""


async def keyboard_page(browser: Browser, url: str, errors: list[str], **viewport: int) -> Page:
    size = {"width": 1280, "height": 900, **viewport}
    return await open_page(
        browser, url, errors, size["width"], height=size["height"], init_scripts=(RECORD_ANNOUNCEMENTS,)
    )


async def tab_to(page: Page, selector: str, *, backwards: bool = False, limit: int = 250) -> list[str]:
    """Press Tab (or Shift+Tab) until the focused element matches `selector`; every element passed on the way
    must show its focus. Returns the elements passed."""
    passed: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focus = await page.evaluate(FOCUS_SHOWN)
        if focus is None:
            continue
        passed.append(focus["what"])
        assert focus["matches"] and focus["shown"], f"focus is not visible on {focus['what']}"
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return passed
    raise AssertionError(f"{selector} was not reached by keyboard; passed: {passed}")


async def choose(page: Page, value: str) -> None:
    """Pick an option of the focused <select> with the arrow keys."""
    for key in ("Home", *["ArrowDown"] * 40):
        if await page.evaluate("document.activeElement.value") == value:
            return
        await page.keyboard.press(key)
    raise AssertionError(f"option {value!r} not reached with the arrow keys")


async def announced(page: Page, text: str) -> None:
    """The live region said something containing `text` (within ten seconds)."""
    try:
        await page.wait_for_function(
            "(text) => window.__announced.some((said) => said.includes(text))", arg=text, timeout=10_000
        )
    except PlaywrightTimeout:
        said = await page.evaluate("window.__announced")
        raise AssertionError(f"{text!r} was never announced; the live region said: {said}") from None


async def focused_testid(page: Page) -> Any:
    return await page.evaluate("document.activeElement?.dataset.testid ?? null")


async def test_attendee_by_keyboard_alone(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    page = await keyboard_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await expect(page.get_by_test_id("register-form")).to_be_visible()

    # The skip link comes first, shows itself when focused, and takes focus to the main content.
    await page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    await expect(skip).to_be_focused()
    box = await skip.bounding_box()
    assert box and box["y"] >= 0 and box["height"] > 10, f"the skip link is visible when focused: {box}"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"

    await tab_to(page, "#display_name")
    await page.keyboard.type("Zoë Okafor")
    await tab_to(page, "#affiliation")
    await page.keyboard.type("Civil Society Coalition")
    await tab_to(page, "#stakeholder_group")
    await choose(page, "civil_society")
    await tab_to(page, "#country")
    await page.keyboard.type("KE")
    await tab_to(page, "#register-submit")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)

    # Ask for the floor: a question, in French; Space on the button.
    await tab_to(page, "#hand-type")
    await choose(page, "question")
    await tab_to(page, "#hand-language")
    await choose(page, "fr")
    await tab_to(page, "[data-testid=raise-hand]")
    await page.keyboard.press("Space")
    place = page.get_by_test_id("my-place")
    await expect(place).to_have_attribute("data-place", "1")
    await announced(page, "Your hand is raised")
    assert await focused_testid(page) == "lower-hand", "focus moves to the button that undoes it"

    # Others come; the moderator moves one ahead: the attendee hears their new place.
    kofi = await join_attendee(hemicycle, "Kofi Mensah")
    kofi_entry = (await kofi.call("hand:raise", HAND))["data"]["entry"]["id"]
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    assert (await moderator.call("queue:move", {"entry_id": kofi_entry, "to": "top"}))["ok"]
    await expect(place).to_have_attribute("data-place", "2")
    await announced(page, "You are now 2nd in line of 2")

    # The floor goes to Kofi: said too.
    assert (await moderator.call("floor:grant", {"entry_id": kofi_entry}))["ok"]
    await expect(page.get_by_test_id("floor-speaker")).to_have_text("Kofi Mensah")
    await expect(place).to_have_attribute("data-place", "1")
    await announced(page, "Kofi Mensah has the floor")
    await announced(page, "You are now 1st in line of 1")

    # Lower the hand with Enter; focus goes back to the button that asks again.
    assert await focused_testid(page) == "lower-hand"
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("raise-hand")).to_be_visible()
    await announced(page, "You lowered your hand")
    assert await focused_testid(page) == "raise-hand"
    assert not real_errors(errors), errors


async def join_attendee(running: Running, name: str) -> Client:
    registered = await running.register(display_name=name)
    return await running.join(registered["token"])


async def test_moderator_reorders_and_grants_by_keyboard(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    page = await keyboard_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
    names = ["Amina Diallo", "Kofi Mensah", "Li Wei"]
    for name in names:
        client = await join_attendee(hemicycle, name)
        assert (await client.call("hand:raise", HAND))["ok"]
    entries = page.get_by_test_id("queue").get_by_test_id("queue-entry")
    await expect(entries).to_have_count(3)

    # From the top of the page, Tab reaches Li Wei's "Give the floor" (the last in line).
    li = "[data-testid=queue-entry]:nth-child(3) [data-testid=grant]"
    await tab_to(page, li)

    order = entries.locator(".queue-name")
    await page.keyboard.press("Alt+ArrowUp")
    await expect(order).to_have_text(["Amina Diallo", "Li Wei", "Kofi Mensah"])
    await announced(page, "Li Wei is now 2 of 3")
    await expect(entries.nth(1).get_by_test_id("grant")).to_be_focused()
    await page.keyboard.press("Alt+ArrowDown")
    await expect(order).to_have_text(names)
    await announced(page, "Li Wei is now 3 of 3")
    await page.keyboard.press("Alt+ArrowUp")
    await expect(order).to_have_text(["Amina Diallo", "Li Wei", "Kofi Mensah"])
    await page.keyboard.press("Alt+ArrowUp")
    await expect(order).to_have_text(["Li Wei", "Amina Diallo", "Kofi Mensah"])
    await announced(page, "Li Wei is now 1 of 3")
    await expect(entries.nth(0).get_by_test_id("grant")).to_be_focused()
    await shoot_part(page, "[data-testid=queue]", "keyboard-moderator-focus")

    # Enter gives Li Wei the floor; the page says so, and focus stays in the queue.
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await announced(page, "Li Wei has the floor")
    await expect(entries).to_have_count(2)
    assert await page.evaluate("!!document.activeElement.closest('[data-testid=queue]')")

    # A dialog: focus goes in, stays in while tabbing round, Escape closes it and focus comes back.
    await tab_to(page, "[data-testid=queue-entry]:nth-child(1) [data-testid=remove]")
    await page.keyboard.press("Enter")
    dialog = page.get_by_test_id("remove-dialog")
    await expect(dialog).to_be_visible()
    assert await page.evaluate("!!document.activeElement.closest('dialog')"), "focus moves into the dialog"
    inside = 0
    for _ in range(8):
        await page.keyboard.press("Tab")
        where = await page.evaluate(
            """() => {
              const node = document.activeElement;
              if (!node || node === document.body) return 'nowhere';
              return node.closest('dialog') ? 'dialog' : node.outerHTML.slice(0, 80);
            }"""
        )
        assert where in ("dialog", "nowhere"), f"focus left the modal dialog for {where}"
        inside += where == "dialog"
        if where == "dialog":
            focus = await page.evaluate(FOCUS_SHOWN)
            assert focus["shown"], f"focus is not visible on {focus['what']} in the dialog"
    assert inside >= 6, "Tab cycles through the dialog's controls"
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(entries.nth(0).get_by_test_id("remove")).to_be_focused()
    assert not real_errors(errors), errors


async def test_chair_tablet_targets_and_reduced_motion(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    client = await join_attendee(hemicycle, "Kofi Mensah")
    assert (await client.call("hand:raise", HAND))["ok"]
    # A question forwarded to the chair, with its buttons.
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    posted = await client.call("question:post", {"text": "How is the follow-up funded?"})
    question = {"question_id": posted["data"]["question"]["id"]}
    assert (await moderator.call("question:moderate", {**question, "action": "approve"}))["ok"]
    assert (await moderator.call("question:relay", {**question, "stage": "forwarded"}))["ok"]
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors, connected=True)
    await chair.set_viewport_size(TABLET)
    await expect(chair.get_by_test_id("queue-entry")).to_have_count(1)
    await expect(chair.get_by_test_id("chair-question")).to_have_count(1)
    # Every control the chair touches is at least 44 px each way (a checkbox counts with its label).
    small = await chair.evaluate(
        """() => [...document.querySelectorAll('button, a[href], input, select, textarea, summary')]
          .filter((n) => n.offsetParent !== null && !n.closest('.visually-hidden'))
          .map((n) => {
            const box = (n.type === 'checkbox' || n.type === 'radio') && n.labels?.[0]
              ? n.closest('.field-check, label') ?? n : n;
            const r = box.getBoundingClientRect();
            return { what: n.outerHTML.slice(0, 90), w: Math.round(r.width), h: Math.round(r.height) };
          })
          .filter((t) => t.w < 44 || t.h < 44)"""
    )
    assert not small, f"touch targets smaller than 44 px on the chair's tablet: {small}"

    # The reconnecting banner's dot pulses; with reduced motion asked for, nothing on the page moves.
    await chair.evaluate(
        "document.getElementById('connection').className = 'connection connection-reconnecting'"
    )
    moving = (
        "document.getAnimations().filter((a) => a.playState === 'running'"
        " && (a.effect?.getComputedTiming().duration ?? 0) > 10).length"
    )
    assert await chair.evaluate(moving) > 0, "the reconnecting dot pulses"
    await chair.emulate_media(reduced_motion="reduce")
    assert await chair.evaluate(moving) == 0, "animations stop when the reader asks for reduced motion"
    assert not real_errors(errors), errors


async def three_hands_up(hemicycle: Running, browser: Browser, errors: list[str]) -> tuple[Page, Locator]:
    """The moderator's page with three attendees in line (Amina Diallo, Kofi Mensah, Li Wei): the page and
    its queue entries."""
    page = await keyboard_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
    for name in ("Amina Diallo", "Kofi Mensah", "Li Wei"):
        client = await join_attendee(hemicycle, name)
        assert (await client.call("hand:raise", HAND))["ok"]
    entries = page.get_by_test_id("queue").get_by_test_id("queue-entry")
    await expect(entries).to_have_count(3)
    return page, entries


async def test_moderator_drags_a_request_and_hears_its_place(hemicycle: Running, browser: Browser) -> None:
    """The pointer's way to reorder, beside the keyboard's: a request dropped on another takes its place, and
    the new place is said as for Alt+↑/↓."""
    errors: list[str] = []
    page, entries = await three_hands_up(hemicycle, browser, errors)
    # By hand, as Playwright's guide to dragging says: in Chromium the drag begins on the first move, and
    # `drag_to` sometimes missed that it had (the drop then never came), one run in ten on a busy machine.
    await entries.nth(2).hover()
    await page.mouse.down()
    await entries.nth(0).hover()
    await entries.nth(0).hover()
    await page.mouse.up()
    await expect(entries.locator(".queue-name")).to_have_text(["Li Wei", "Amina Diallo", "Kofi Mensah"])
    await announced(page, "Li Wei is now 1 of 3")
    assert not real_errors(errors), errors


async def test_a_drag_is_not_undone_by_updates_arriving_meanwhile(
    hemicycle: Running, browser: Browser
) -> None:
    """People join and hands go up while the moderator drags a request: the list stays as it was under the
    pointer until the drop, which moves the request; the updates are shown once the drag ends. The same
    while a request is pressed (a click on its way)."""
    errors: list[str] = []
    page, entries = await three_hands_up(hemicycle, browser, errors)
    transfer = await page.evaluate_handle("() => new DataTransfer()")
    await entries.nth(2).dispatch_event("dragstart", {"dataTransfer": transfer})
    await page.evaluate("window.draggedNode = document.querySelectorAll('[data-testid=queue-entry]')[2]")

    late = await join_attendee(hemicycle, "Zoë Okafor")
    assert (await late.call("hand:raise", HAND))["ok"]
    # The roster has reached the page meanwhile (and the queue with the new hand before it).
    await expect(page.get_by_test_id("person").filter(has_text="Zoë Okafor")).to_have_count(1)
    await expect(entries).to_have_count(3)
    same = "document.querySelectorAll('[data-testid=queue-entry]')[2] === window.draggedNode"
    assert await page.evaluate(same), "the dragged request is still the one under the pointer"

    await entries.nth(0).dispatch_event("dragover", {"dataTransfer": transfer})
    await entries.nth(0).dispatch_event("drop", {"dataTransfer": transfer})
    await entries.nth(2).dispatch_event("dragend", {"dataTransfer": transfer})
    await expect(entries.locator(".queue-name")).to_have_text(
        ["Li Wei", "Amina Diallo", "Kofi Mensah", "Zoë Okafor"]
    )

    # A press alone (a click, or a drag not yet begun) holds the list too, until it is released.
    await entries.nth(0).dispatch_event("pointerdown")
    more = await join_attendee(hemicycle, "Mei Chen")
    assert (await more.call("hand:raise", HAND))["ok"]
    await expect(page.get_by_test_id("person").filter(has_text="Mei Chen")).to_have_count(1)
    await expect(entries).to_have_count(4)
    await page.dispatch_event("body", "pointerup")
    await expect(entries).to_have_count(5)
    assert not real_errors(errors), errors


# The focused element, and what could hide it from a sighted keyboard user.
FOCUS_REPORT = """() => {
  const node = document.activeElement;
  if (!node || node === document.body || node === document.documentElement) return null;
  const style = getComputedStyle(node);
  const box = node.getBoundingClientRect();
  // Each element is numbered once, to know when Tab has gone round the page.
  window.__focusCount = (window.__focusCount ?? 0) + (node.__focusKey ? 0 : 1);
  node.__focusKey ??= window.__focusCount;
  return {
    key: String(node.__focusKey),
    what: node.outerHTML.slice(0, 120),
    shown: node.matches(':focus-visible') && (
      (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none'),
    visible: box.width > 0 && box.height > 0 && style.visibility !== 'hidden'
      && !node.closest('[aria-hidden=true]'),
  };
}"""


async def tab_through(page: Page, limit: int = 300) -> tuple[int, list[str]]:
    """Tab round the whole page once; return how many controls were reached and what is wrong with the focus
    on the way (nothing, at best)."""
    problems: list[str] = []
    seen: set[str] = set()
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focus = await page.evaluate(FOCUS_REPORT)
        if focus is None:
            continue
        if focus["key"] in seen:
            break  # round the page once
        seen.add(focus["key"])
        if not focus["visible"]:
            problems.append(f"focus on something that cannot be seen: {focus['what']}")
        elif not focus["shown"]:
            problems.append(f"focus not shown on {focus['what']}")
    return len(seen), problems


async def test_focus_is_shown_on_every_control_of_every_page(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    kofi = await join_attendee(hemicycle, "Kofi Mensah")
    raised = await kofi.call("hand:raise", HAND)
    assert (await kofi.call("question:post", {"text": "How is the follow-up funded?"}))["ok"]
    pages: dict[str, Page] = {
        "index": await keyboard_page(browser, f"{hemicycle.url}/", errors),
        "admin": await keyboard_page(browser, await link(hemicycle, Role.ADMIN), errors),
    }
    attendee = await keyboard_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    await attendee.get_by_test_id("raise-hand").press("Enter")
    await expect(attendee.get_by_test_id("my-place")).to_be_visible()
    pages["attendee"] = attendee
    for role in (Role.MODERATOR, Role.CHAIR, Role.AV, Role.CAPTIONER, Role.INTERPRETER):
        page = await keyboard_page(browser, await link(hemicycle, role), errors, **TABLET)
        await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
        pages[role.value] = page
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    assert (await moderator.call("floor:grant", {"entry_id": raised["data"]["entry"]["id"]}))["ok"]
    pages["report"] = await keyboard_page(
        browser,
        f"{hemicycle.url}/s/{hemicycle.live_session}/report#token="
        + await hemicycle.staff_token(Role.MODERATOR),
        errors,
    )
    await expect(pages["report"].get_by_test_id("report")).to_be_visible()
    await expect(pages["moderator"].get_by_test_id("floor-speaker")).to_have_text("Kofi Mensah")

    problems: list[str] = []
    for name, page in pages.items():
        reached, found = await tab_through(page)
        print(f"{name}: {reached} controls reached by Tab")
        assert reached >= 2, f"{name}: only {reached} controls reached by Tab"  # the skip link, home
        problems += [f"{name}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)
    assert not real_errors(errors), errors
