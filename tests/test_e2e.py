"""The whole session end to end, in Debian's Chromium with fake camera and microphone, through the server's
real media relay: the AV desk publishes the room feed, three attendees watch it, one is given the floor and
the AV desk hears them until the moderator revokes; a question goes from an attendee to the room display;
an attendee who reloads keeps their place. Screenshots of every page go to test-artifacts/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from server.domain.roles import Role
from server.media.relay import SPEAKER
from server.media_http import MEDIA_KEY

from .browser import CONNECTED, link, open_page, real_errors, register_in_browser, shoot
from .conftest import make_settings, run_app
from .helpers import Running, eventually, free_port
from .services import CHROMIUM_ARGS

pytestmark = pytest.mark.browser

FAKE_DEVICES = "--use-fake-device-for-media-stream"


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Chromium as for every browser test, its fake camera at 10 frames a second (see SMALL_VIDEO)."""
    args = [f"{arg}=fps=10" if arg == FAKE_DEVICES else arg for arg in CHROMIUM_ARGS]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=args)
        try:
            yield launched
        finally:
            await launched.close()


# Test instrumentation, not part of the pages: every RTCPeerConnection a page makes is kept in a list, so
# the test can read the browser's own statistics (what was decoded, what sound arrived).
RECORD_PEERS = """(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); made.push(this); }
  };
  Object.defineProperty(window, 'testPeers', { value: made });
})();"""

# The same for the cameras: small pictures, few frames. Seven pages encode and decode video at once here, on
# machines with two cores; what is tested is that frames arrive and decode, not their size.
SMALL_VIDEO = """(() => {
  const devices = navigator.mediaDevices;
  const native = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints = {}) => {
    if (constraints.video) {
      const asked = typeof constraints.video === 'object' ? constraints.video : {};
      constraints = {...constraints, video: {...asked, width: 320, height: 240, frameRate: 10}};
    }
    return native(constraints);
  };
})();"""

# Inbound sound on a page, summed over its open peer connections.
INBOUND_AUDIO = """async () => {
  let packets = 0, energy = 0;
  for (const pc of window.testPeers) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        packets += s.packetsReceived || 0;
        energy += s.totalAudioEnergy || 0;
      }
    });
  }
  return {packets, energy};
}"""

# Frames the page's room video has decoded and shown.
FRAMES = """(testid) => {
  const video = document.querySelector(`[data-testid="${testid}"]`);
  return video && video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""

MEDIA_TIMEOUT = 20_000
PAGE_TIMEOUT = 15_000
"""What a page may take to show what another page did, through the server: seven pages share two cores."""


@pytest.fixture(autouse=True)
def patient_expectations() -> Iterator[None]:
    expect.set_options(timeout=PAGE_TIMEOUT)
    try:
        yield
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default, for the other test modules


async def media_page(browser: Browser, url: str, errors: list[str], width: int = 1000) -> Page:
    """A page whose peer connections the test can read (see RECORD_PEERS)."""
    return await open_page(browser, url, errors, width, init_scripts=(RECORD_PEERS, SMALL_VIDEO))


async def until(
    page: Page, script: str, check: Any, what: str, timeout: float = 15.0, arg: Any = None
) -> Any:
    """Evaluate `script` on the page until `check(value)` holds; fail with the last value after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await page.evaluate(script, arg)
        if check(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last value: {value!r})")
        await asyncio.sleep(0.25)


async def decoding(page: Page, name: str) -> None:
    """The room video decodes frames, and goes on decoding them."""
    first = await until(page, FRAMES, lambda n: n > 0, f"{name} shows a first frame", arg="room-video")
    await until(page, FRAMES, lambda n: n > first + 5, f"{name} keeps decoding frames", arg="room-video")


async def attendee(browser: Browser, running: Running, errors: list[str], name: str) -> Page:
    """An attendee registered through the form, watching the room (which starts by itself)."""
    page = await media_page(browser, f"{running.url}/s/{running.live_session}", errors)
    await register_in_browser(page, name)
    # The session is live: the feed starts by itself, nothing to press.
    await expect(page.get_by_test_id("media-watch")).to_have_text("Stop", timeout=MEDIA_TIMEOUT)
    return page


async def raise_hand(page: Page) -> None:
    await page.get_by_label("Type of intervention").select_option("statement")
    await page.get_by_label("Language you will speak").select_option("en")
    await page.get_by_test_id("raise-hand").click()
    await expect(page.get_by_test_id("my-place")).to_be_visible()


# About a minute on a quiet two-core machine (seven pages, real media); more when the machine is shared.
@pytest.mark.timeout(300)
async def test_a_session_from_room_feed_to_room_display(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    relay = hemicycle.server.app[MEDIA_KEY]

    # The staff pages: the AV desk publishes the room feed from its (fake) camera and mixer.
    av = await media_page(browser, await link(hemicycle, Role.AV), errors, width=1280)
    await expect(av.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
    await expect(av.get_by_test_id("av-live")).to_have_attribute("data-state", "none")
    await expect(av.get_by_test_id("av-live")).to_have_text("Nobody is live")
    await av.get_by_test_id("av-publish").click()
    await expect(av.get_by_test_id("av-room-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_TIMEOUT
    )
    moderator = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors, connected=True)
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors, connected=True)
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1600, connected=True
    )

    # Three attendees watch: each decodes the room's video.
    names = ["Zoë Okafor", "Kofi Mensah", "Lina Haddad"]
    zoe, kofi, lina = await asyncio.gather(*(attendee(browser, hemicycle, errors, name) for name in names))
    for page, name in zip((zoe, kofi, lina), names, strict=True):
        await expect(page.get_by_test_id("media-state")).to_have_attribute(
            "data-state", "connected", timeout=MEDIA_TIMEOUT
        )
        await decoding(page, name)
    # The AV desk's meter follows the room's sound (the fake microphone beeps).
    await until(
        av,
        "() => Number(document.querySelector('[data-testid=av-room-level]').dataset.level)",
        lambda level: level > -90,
        "the room feed's level meter moves",
    )
    # The attendee's own sound: volume and mute, which the page applies to the room's video.
    await zoe.get_by_test_id("media-volume").fill("40")
    assert await zoe.get_by_test_id("room-video").evaluate("(v) => v.volume") == pytest.approx(0.4)
    await zoe.get_by_test_id("media-mute").click()
    await expect(zoe.get_by_test_id("media-mute")).to_have_attribute("aria-pressed", "true")
    assert await zoe.get_by_test_id("room-video").evaluate("(v) => v.muted")
    await zoe.get_by_test_id("media-mute").click()
    await expect(zoe.get_by_test_id("media-mute")).to_have_attribute("aria-pressed", "false")

    # Zoë raises her hand; the moderator gives her the floor from the console.
    await raise_hand(zoe)
    entry = moderator.get_by_test_id("queue").get_by_test_id("queue-entry").filter(has_text="Zoë Okafor")
    await entry.get_by_test_id("grant").click()
    panel = zoe.get_by_test_id("speak-panel")
    await expect(panel).to_be_visible()
    await expect(panel.get_by_test_id("speak-countdown")).to_have_attribute("data-phase", "speaking")
    await expect(av.get_by_test_id("av-live")).to_have_attribute("data-state", "waiting")
    before = await av.evaluate(INBOUND_AUDIO)

    # She speaks: the AV desk receives her sound, and says she is live.
    asked = await av.evaluate(
        """() => {
          const live = document.querySelector('[data-testid=av-live]');
          new MutationObserver(() => {
            if (live.dataset.state === 'live' && !window.liveAt) window.liveAt = Date.now();
          }).observe(live, { attributes: true });
          return Date.now();
        }"""
    )
    await panel.get_by_test_id("media-speak").click()
    await expect(panel.get_by_test_id("speak-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_TIMEOUT
    )
    room = relay.relay(hemicycle.live_session)
    assert room is not None and room.publisher(SPEAKER) is not None
    heard = await until(
        av,
        INBOUND_AUDIO,
        lambda s: s["packets"] > before["packets"] + 50 and s["energy"] > before["energy"],
        "the AV desk receives the speaker's sound",
    )
    live = av.get_by_test_id("av-live")
    await expect(live).to_have_attribute("data-state", "live", timeout=10_000)
    await expect(live).to_have_text("Live in the room: Zoë Okafor")
    # Measured, not asserted (a busy machine is slower): from her click to the AV desk saying she is live.
    print(f"speaker to AV desk live: {(await av.evaluate('window.liveAt')) - asked} ms")
    await until(
        zoe,
        "() => Number(document.querySelector('[data-testid=speak-level]').dataset.level)",
        lambda level: level > -90,
        "the speaker's level meter moves",
    )
    # Her own mute is shown as pressed, and lifted again.
    mute = panel.get_by_test_id("speak-mute")
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "true")
    await expect(panel.get_by_test_id("speak-state")).to_contain_text("muted")
    await mute.click()
    await expect(mute).to_have_attribute("aria-pressed", "false")
    # Another microphone, on the same connection: the relay keeps the same publication.
    microphones = (
        await panel.get_by_test_id("speak-microphone")
        .locator("option")
        .evaluate_all("(options) => options.map((o) => o.value).filter(Boolean)")
    )
    if len(microphones) > 1:
        publication = room.publisher(SPEAKER)
        await panel.locator(".speak-devices > summary").click()  # the device choice is tucked away
        await panel.get_by_test_id("speak-microphone").select_option(microphones[-1])
        heard = await until(
            av,
            INBOUND_AUDIO,
            lambda s: s["packets"] > heard["packets"] + 50,
            "the AV desk still hears the speaker after a change of microphone",
        )
        assert room.publisher(SPEAKER) is publication
    await shoot(zoe, "e2e-attendee-speaking")
    await shoot(av, "e2e-av-desk-live")
    await shoot(display, "e2e-display-speaker")

    # The moderator revokes: her sound stops reaching the AV desk.
    await moderator.get_by_test_id("revoke-turn").click()
    await expect(panel).to_be_hidden()
    await expect(live).to_have_attribute("data-state", "none")
    assert room.publisher(SPEAKER) is None

    async def settled() -> bool:
        first = (await av.evaluate(INBOUND_AUDIO))["packets"]
        await asyncio.sleep(1.0)
        return (await av.evaluate(INBOUND_AUDIO))["packets"] == first

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await settled():
        assert loop.time() < deadline, "the speaker's sound still reaches the AV desk after the revoke"

    # A question: Kofi asks, the moderator approves and forwards it, the chair reads it aloud, the room
    # display shows it.
    text = "How will the outcome document reflect remote interventions?"
    form = kofi.get_by_test_id("question-form")
    await form.get_by_test_id("question-text").fill(text)
    await form.locator("button[type=submit]").click()
    mine = kofi.get_by_test_id("my-questions").get_by_test_id("my-question").filter(has_text=text)
    await expect(mine).to_have_attribute("data-state", "pending")
    question_id = await mine.get_attribute("data-question-id")
    item = moderator.get_by_test_id("moderation").locator(f'[data-question-id="{question_id}"]')
    await item.get_by_test_id("approve").click()
    await expect(mine).to_have_attribute("data-state", "approved")
    approved = moderator.locator('[data-testid="question-filter"][data-filter="approved"]')
    await approved.click()
    await item.get_by_test_id("forward").click()
    read = chair.get_by_test_id("chair-questions").locator(f'[data-question-id="{question_id}"]')
    await read.get_by_test_id("read").click()
    await expect(read).to_have_attribute("data-stage", "read")
    reading = display.get_by_test_id("reading")
    await expect(reading).to_have_attribute("data-question-id", str(question_id))
    await expect(reading.locator(".reading-text")).to_have_text(text)
    await expect(reading).to_contain_text("Kofi Mensah")
    await shoot(display, "e2e-display-question")
    await shoot(chair, "e2e-chair")

    # The captioner types a line: it appears under the video for every attendee and on the room display.
    captioner = await open_page(browser, await link(hemicycle, Role.CAPTIONER), errors, connected=True)
    caption = "The chair thanks the speaker and opens the list for questions."
    box = captioner.get_by_label("Caption line")
    await box.fill(caption)
    await box.press("Enter")
    await expect(captioner.get_by_test_id("caption-sent").last).to_contain_text(caption)
    for page in (zoe, kofi, lina, display):
        await expect(page.get_by_test_id("caption-lines").get_by_test_id("caption-line").last).to_have_text(
            caption
        )
    await shoot(captioner, "e2e-captioner")
    await shoot(display, "e2e-display-caption")

    # Kofi and Lina raise their hands; Lina reloads her page and comes back second in line.
    await raise_hand(kofi)
    await raise_hand(lina)
    place = lina.get_by_test_id("my-place")
    await expect(place).to_have_attribute("data-place", "2")
    await lina.reload()
    await expect(lina.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
    await expect(place).to_have_attribute("data-place", "2")
    await expect(lina.get_by_test_id("me")).to_contain_text("Lina Haddad")
    await expect(lina.get_by_test_id("register-form")).to_be_hidden()

    # While waiting, Kofi checks his microphone: the AV desk hears him in the green room, the room does not.
    await kofi.get_by_test_id("check-microphone").click()
    await expect(kofi.get_by_test_id("check-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_TIMEOUT
    )
    await av.get_by_test_id("av-queued").select_option(label="Kofi Mensah")
    await av.get_by_test_id("av-check").click()
    await until(
        av,
        "() => Number(document.querySelector('[data-testid=av-greenroom-level]').dataset.level)",
        lambda level: level > -90,
        "the AV desk hears the device check",
    )
    assert room.publisher(SPEAKER) is None
    await expect(live).to_have_attribute("data-state", "none")
    await eventually(lambda: room.publisher(SPEAKER) is None)

    for page, name in (
        (av, "e2e-av-desk"),
        (moderator, "e2e-moderator"),
        (zoe, "e2e-attendee-1"),
        (kofi, "e2e-attendee-2"),
        (lina, "e2e-attendee-3-reloaded"),
    ):
        await shoot(page, name)
    for page in (av, moderator, chair, display, captioner, zoe, kofi, lina):
        assert not await page.locator("[data-testid=error-message]").count()
    assert not real_errors(errors), errors


REFUSE_DEVICES = """(() => {
  navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
})();"""


async def test_a_refused_microphone_is_explained_and_the_floor_kept(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    await context.add_init_script(REFUSE_DEVICES)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{hemicycle.url}/s/{hemicycle.live_session}")
    await register_in_browser(page, "Amina Diallo")
    await raise_hand(page)
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    queue = (await moderator.call("queue:get"))["data"]["queue"]["queue"]

    # Checking the microphone while waiting: refused, explained, and the hand stays raised.
    check = page.get_by_test_id("check-panel")
    await check.get_by_test_id("check-microphone").click()
    refused = check.get_by_test_id("error-message")
    await expect(refused).to_have_attribute("data-code", "device_refused")
    await expect(refused).to_contain_text("Your hand stays raised")
    await expect(page.get_by_test_id("my-place")).to_have_attribute("data-place", "1")
    assert [e["state"] for e in (await moderator.call("queue:get"))["data"]["queue"]["queue"]] == ["queued"]
    assert (await moderator.call("floor:grant", {"entry_id": queue[0]["id"]}))["ok"]

    panel = page.get_by_test_id("speak-panel")
    await panel.get_by_test_id("media-speak").click()
    error = panel.get_by_test_id("error-message")
    await expect(error).to_have_attribute("data-code", "device_refused")
    await expect(error).to_contain_text("did not allow the microphone")
    await expect(error).to_contain_text("You keep the floor meanwhile")
    # Nothing was lost: the floor is still hers, the page still offers to try again.
    await expect(page.get_by_test_id("my-turn")).to_be_visible()
    await expect(panel.get_by_test_id("media-speak")).to_be_enabled()
    floor = (await moderator.call("queue:get"))["data"]["floor"]
    assert floor["speaking"]["id"] == queue[0]["id"], floor
    await shoot(page, "e2e-attendee-microphone-refused")
    assert not errors, errors


async def test_the_attendee_page_comes_back_after_a_server_restart(tmp_path: Path, browser: Browser) -> None:
    errors: list[str] = []
    settings = make_settings(tmp_path)
    port = free_port()
    # Stopped without waiting for its clients to leave, as a crash or a redeployment would.
    first = run_app(settings, port=port, shutdown_timeout=0.5)
    running = await anext(first)
    page = await open_page(browser, f"{running.url}/s/{running.live_session}", errors, width=1000)
    await register_in_browser(page, "Kofi Mensah")
    await raise_hand(page)
    await expect(page.get_by_test_id("my-place")).to_have_attribute("data-place", "1")

    # The server goes away: the page says it is reconnecting, and keeps what it showed.
    await first.aclose()
    banner = page.get_by_test_id("connection-state")
    await expect(banner).to_have_attribute("data-state", "reconnecting")
    await expect(banner).to_be_visible()
    await shoot(page, "e2e-attendee-reconnecting")

    # It comes back on the same address: the page reconnects by itself, with the hand still raised.
    second = run_app(settings, port=port, shutdown_timeout=0.5)
    await anext(second)
    try:
        await expect(banner).to_have_attribute("data-state", "connected", timeout=20_000)
        await expect(page.get_by_test_id("my-place")).to_have_attribute("data-place", "1")
        await expect(page.get_by_test_id("raise-hand")).to_be_hidden()
    finally:
        await page.context.close()
        await second.aclose()
    # The browser reports the refused connections while the server was away; nothing else.
    unexpected = [
        e for e in real_errors(errors) if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e
    ]
    assert not unexpected, unexpected
