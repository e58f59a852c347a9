"""End to end in Firefox ESR (fake camera and microphone, driven through Marionette), with Chromium on the
other end: Firefox offers only mDNS host candidates and ends them with ``a=end-of-candidates``, which the
relay must connect all the same (see tests/test_media_mdns.py for the same offers without a browser)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role
from server.media.relay import ROOM, SPEAKER, greenroom
from server.media_http import MEDIA_KEY

from .browser import link, open_page, real_errors, register_in_browser
from .firefox import Firefox
from .helpers import Running, eventually
from .test_media_browser import HEARING, PLAYING, playing

SOUND_BUTTON = "document.querySelector('[data-testid=player-sound]')"

pytestmark = [pytest.mark.browser, pytest.mark.firefox]

# Layout checks run in both browsers (Playwright's evaluate, Marionette's "return (f)(argument)").
# The boxes inside a container that stick out of it (none when it holds its content).
SPILLING = """(selector) => {
  const container = document.querySelector(selector);
  const outer = container.getBoundingClientRect();
  return [...container.querySelectorAll('*')].filter((e) => e.getClientRects().length).filter((e) => {
    const box = e.getBoundingClientRect();
    return box.left < outer.left - 0.5 || box.right > outer.right + 0.5;
  }).map((e) => `${e.tagName} ${e.textContent.slice(0, 20)}`);
}"""
# How many lines an element's text takes.
LINES = """(testid) => {
  const range = document.createRange();
  range.selectNodeContents(document.querySelector(`[data-testid="${testid}"]`));
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""
HEALTH_ROW = "!!document.querySelector('#media-health .health-table [data-source=\"room\"]')"


async def firefox_playing(page: Firefox, testid: str, check: str = PLAYING) -> None:
    """The same check as in Chromium (tests/test_media_browser.py), then the picture or sound advancing."""
    await page.wait_for(f"return ({check})(arguments[0]);", testid, what=f"{testid} to play")
    at = await page.js(f"return document.querySelector('[data-testid=\"{testid}\"]').currentTime;")
    await page.wait_for(
        f"return document.querySelector('[data-testid=\"{testid}\"]').currentTime > arguments[0] + 0.5;",
        at,
        what=f"{testid} to advance",
    )


async def register_in_firefox(page: Firefox, running: Running, name: str) -> None:
    await page.goto(f"{running.url}/s/{running.live_session}")
    await page.fill("#display_name", name)
    await page.fill("#affiliation", "Civil Society Coalition")
    await page.fill("#stakeholder_group", "civil_society")
    await page.fill("#country", "KE")
    await page.js("document.querySelector('[data-testid=\"register-form\"] button[type=submit]').click();")
    await page.wait_connected()


async def test_a_firefox_attendee_watches_checks_their_devices_and_speaks_with_a_camera(
    hemicycle: Running, browser: Browser, firefox: Firefox
) -> None:
    errors: list[str] = []
    room = hemicycle.server.app[MEDIA_KEY]
    av = await open_page(browser, await link(hemicycle, Role.AV), errors, connected=True)
    await av.get_by_test_id("av-publish").click()
    await expect(av.get_by_test_id("av-room-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    relay = room.relay(hemicycle.live_session)
    assert relay is not None
    # The link health table stays inside its panel (1280 px wide).
    await av.wait_for_function(f"() => {HEALTH_ROW}", timeout=10_000)
    assert await av.evaluate(SPILLING, "#media-health") == []

    # Watching the room feed: picture advancing, and sound.
    await register_in_firefox(firefox, hemicycle, "Amara Diallo")
    # The session is live: the feed starts by itself once registered. Registered by script (no click on the
    # page), Firefox may play it only silently: the control over the picture turns the sound on.
    await firefox.wait_state("media-state", "connected")
    await firefox_playing(firefox, "room-video")
    if await firefox.js(f"const n = {SOUND_BUTTON}; return !!n && !n.hidden;"):
        await firefox.click("player-sound")
    await firefox.wait_for(
        "return !document.querySelector('[data-testid=room-video]').muted;", what="the sound turned on"
    )
    await firefox.wait_for(f"return ({HEARING})(arguments[0]);", "room-video", what="the room's sound")
    viewer = next(p for p in relay.peers.values() if p.role == "view" and p.source == ROOM)
    sent = viewer.tracks["audio"].sent_frames
    await eventually(lambda: viewer.tracks["audio"].sent_frames > sent + 25, timeout=10)

    # Waiting in line, the attendee checks their microphone; the AV desk hears it.
    await firefox.fill("#hand-type", "statement")
    await firefox.fill("#hand-language", "en")
    await firefox.click("raise-hand")
    await firefox.wait_for(
        "return !document.querySelector('[data-testid=\"check-panel\"]').hidden", what="the check panel"
    )
    await firefox.click("check-microphone")
    await firefox.wait_state("check-state", "connected")
    checked = next(
        p for p in relay.peers.values() if p.role == "publish" and p.source.startswith("greenroom")
    )
    assert checked.source == greenroom(checked.participant_id)
    await expect(av.get_by_test_id("av-queued")).to_contain_text("Amara Diallo", timeout=10_000)
    await av.get_by_test_id("av-check").click()
    await playing(av, "av-greenroom", HEARING)
    await firefox.click("check-microphone")  # ends the check

    # Given the floor: after a microphone-only permission, Firefox lists its camera without an id; the
    # speaker is offered it all the same, and the AV desk gets picture and sound.
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    queue = (await moderator.call("queue:get"))["data"]["queue"]["queue"]
    granted = await moderator.call("floor:grant", {"entry_id": queue[0]["id"]})
    assert granted["ok"], granted
    await firefox.wait_for(
        "return !document.querySelector('[data-testid=\"speak-panel\"]').hidden", what="the speak panel"
    )
    cameras = await firefox.js(
        "return [...document.querySelectorAll('#media-camera option')].map((o) => o.value);"
    )
    assert len(cameras) > 1, cameras
    await firefox.fill("#media-camera", cameras[1])
    await firefox.click("media-speak")
    await firefox.wait_state("speak-state", "connected")
    speaker = relay.publisher(SPEAKER)
    assert speaker is not None and set(speaker.feeds) == {"audio", "video"}
    await playing(av, "av-speaker", HEARING)
    await playing(av, "av-speaker")
    await moderator.call("floor:end", {"entry_id": queue[0]["id"], "revoke": True})
    assert relay.publisher(SPEAKER) is None
    assert not await firefox.errors()
    assert not real_errors(errors), errors


async def test_the_av_desk_publishes_from_firefox_to_a_chromium_viewer(
    hemicycle: Running, browser: Browser, firefox: Firefox
) -> None:
    errors: list[str] = []
    await firefox.goto(hemicycle.url)
    await firefox.resize(1280, 900)
    await firefox.goto(await link(hemicycle, Role.AV))
    await firefox.wait_connected()
    await firefox.click("av-publish")
    await firefox.wait_state("av-room-state", "connected")
    relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
    assert relay is not None and relay.publisher(ROOM) is not None
    await firefox.wait_for(f"return {HEALTH_ROW};", what="the link health table")
    assert await firefox.js(f"return ({SPILLING})(arguments[0]);", "#media-health") == []

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor")
    await expect(attendee.get_by_test_id("media-watch")).to_have_text("Stop", timeout=10_000)
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")
    await playing(attendee, "room-video", HEARING)
    assert not await firefox.errors()

    # The room display on a 1280 x 720 projector: it fits the screen (so Firefox shows no scrollbar, whose
    # 12 px used to wrap the title), and the title stays on one line.
    await firefox.resize(1280, 720)
    display = await link(hemicycle, Role.DISPLAY)
    await firefox.goto(display)
    await firefox.wait_for(
        "return !document.getElementById('board').hidden"
        " && document.documentElement.scrollHeight <= innerHeight",
        what="the board, fitting the window",
    )
    assert await firefox.js(f"return ({LINES})(arguments[0]);", "session-title") == 1
    chromium_display = await open_page(browser, display, errors, 1280, height=720, connected=True)
    await expect(chromium_display.locator("#board")).to_be_visible()
    assert await chromium_display.evaluate(LINES, "session-title") == 1
    assert not await firefox.errors()
    assert not real_errors(errors), errors
