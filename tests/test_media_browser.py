"""End to end in Chromium (fake camera and microphone): the AV desk publishes the room feed, an attendee
watches it and switches language, then speaks into the room when given the floor; the AV desk hears them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role
from server.media.relay import ROOM, SPEAKER
from server.media_http import MEDIA_KEY

from .browser import link, open_page, real_errors, register_in_browser, shoot
from .helpers import Running, eventually
from .test_accessibility import Audit

pytestmark = pytest.mark.browser

PLAYING = """(testid) => {
  const video = document.querySelector(`[data-testid="${testid}"]`);
  return !!video && video.videoWidth > 0 && video.currentTime > 0.2;
}"""
HEARING = """(testid) => {
  const video = document.querySelector(`[data-testid="${testid}"]`);
  const stream = video && video.srcObject;
  return !!stream && stream.getAudioTracks().length > 0 && video.currentTime > 0.2;
}"""

# What browsers do before anything on the page was clicked: play() refuses to start a video with sound.
# (The test browser counts another tab's clicks as this page's activation: the page's own clicks count here.)
SOUND_AFTER_A_CLICK = """(() => {
  const play = HTMLMediaElement.prototype.play;
  let used = false;
  addEventListener('pointerdown', () => { used = true; }, true);
  addEventListener('keydown', () => { used = true; }, true);
  HTMLMediaElement.prototype.play = function () {
    if (!this.muted && !used) {
      return Promise.reject(new DOMException('play() needs a click first', 'NotAllowedError'));
    }
    return play.call(this);
  };
})();"""


async def playing(page: Page, testid: str, check: str = PLAYING) -> None:
    try:
        await page.wait_for_function(check, arg=testid, timeout=20_000)
    except Exception:
        state = await page.evaluate(
            """(testid) => { const v = document.querySelector(`[data-testid="${testid}"]`);
            const s = v && v.srcObject;
            return {w: v && v.videoWidth, t: v && v.currentTime, paused: v && v.paused, muted: v && v.muted,
              tracks: s ? s.getTracks().map((t) => [t.kind, t.readyState, t.muted]) : null,
              ready: v && v.readyState}; }""",
            testid,
        )
        raise AssertionError(f"{testid} is not playing: {state}") from None


async def test_room_feed_to_an_attendee_and_a_speaker_to_the_av_desk(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    relay = hemicycle.server.app[MEDIA_KEY]
    av = await open_page(browser, await link(hemicycle, Role.AV), errors)
    await expect(av.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await av.get_by_test_id("av-publish").click()
    await expect(av.get_by_test_id("av-room-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    room = relay.relay(hemicycle.live_session)
    assert room is not None and room.publisher(ROOM) is not None

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor", "civil_society", "KE")
    # The session is live: the feed starts by itself (the registration's clicks let it play with sound).
    start = attendee.get_by_test_id("player-start")
    watch = attendee.get_by_test_id("media-watch")
    await expect(watch).to_have_text("Stop", timeout=10_000)
    await expect(start).to_be_hidden()
    await expect(attendee.get_by_test_id("player-sound")).to_be_hidden()
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")
    assert not await attendee.get_by_test_id("room-video").evaluate("(v) => v.muted")
    await shoot(attendee, "attendee-playing-desktop")
    # Stopped, it stays stopped on the next visit: the first screen then says how to start, with the session
    # and its state, on the first screen of a phone; on a desktop the player sits beside the floor.
    await watch.click()
    await attendee.reload()
    await expect(attendee.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
    await expect(start).to_be_visible()
    await expect(start).to_contain_text("Watch and listen")
    await expect(start).to_contain_text("Opening ceremony")
    await expect(start).to_contain_text("Live")
    player = await attendee.get_by_test_id("player").bounding_box()
    floor = await attendee.locator("#floor-section").bounding_box()
    assert player and floor and floor["x"] > player["x"] + player["width"] - 1, (player, floor)
    await shoot(attendee, "attendee-first-screen-desktop")
    await attendee.set_viewport_size({"width": 390, "height": 844})
    box = await start.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, (
        f"the start control is on a phone's first screen: {box}"
    )
    await shoot(attendee, "attendee-first-screen-phone")
    await start.click()
    await expect(start).to_be_hidden()
    await expect(watch).to_be_focused()
    await attendee.set_viewport_size({"width": 1280, "height": 900})
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")
    # Changing the page's language: the feed plays on, on the same channel (test_language_changes_in_place).
    for code, words in (("fr", "Arrêter"), ("en", "Stop")):
        await attendee.get_by_test_id("language-picker").select_option(code)
        await expect(attendee.locator("html")).to_have_attribute("lang", code)
        await expect(attendee.get_by_test_id("media-watch")).to_have_text(words, timeout=10_000)
        await expect(attendee.get_by_test_id("player-start")).to_be_hidden()
        await playing(attendee, "room-video")
    # Only the channels on air are offered: nobody interprets into French yet.
    french_option = attendee.get_by_test_id("media-channel").locator('option[value="fr"]')
    await expect(french_option).to_be_disabled()
    await expect(french_option).to_contain_text("not on air")
    # An interpreter goes on air in French: the channel is offered, and the attendee picks it.
    booth = await open_page(browser, await link(hemicycle, Role.INTERPRETER), errors)
    await booth.get_by_test_id("booth-channel").select_option("fr")
    await booth.get_by_test_id("booth-publish").click()
    await expect(booth.get_by_test_id("booth-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await expect(french_option).to_be_enabled(timeout=5_000)
    await expect(french_option).to_have_text("French")
    await attendee.get_by_test_id("media-channel").select_option("fr")
    viewer = next(p for p in room.peers.values() if p.role == "view" and p.source == ROOM)
    await eventually(lambda: viewer.channel == "fr", timeout=5)
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute("data-state", "connected")
    french = room.feed("channel:fr", "audio")
    assert viewer.feeds["audio"] is french and french.live
    sent = viewer.tracks["audio"].sent_frames
    await eventually(lambda: viewer.tracks["audio"].sent_frames > sent + 25, timeout=10)

    # The relay drops the attendee's connection: the page subscribes again by itself, on the same channel.
    await room.stop(viewer.id, "test")
    await eventually(
        lambda: any(p.role == "view" and p.source == ROOM and p.id != viewer.id for p in room.peers.values()),
        timeout=20,
    )
    viewer = next(p for p in room.peers.values() if p.role == "view" and p.source == ROOM)
    assert viewer.channel == "fr"
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )

    # The interpreter goes off air: the attendee hears the floor meanwhile and is told; back on air, the
    # French channel plays again, and the page says so.
    note = attendee.get_by_test_id("channel-note")
    await booth.get_by_test_id("booth-publish").click()
    await expect(note).to_contain_text("The French interpretation went off air", timeout=5_000)
    await eventually(lambda: viewer.channel == "floor", timeout=5)
    await shoot(attendee, "attendee-channel-off-air")
    await booth.get_by_test_id("booth-publish").click()
    await expect(note).to_contain_text("on air again", timeout=20_000)
    await eventually(lambda: viewer.channel == "fr", timeout=5)

    # The attendee asks for the floor and is given it: the page offers the microphone.
    await attendee.get_by_label("Type of intervention").select_option("statement")
    await attendee.get_by_label("Language you will speak").select_option("en")
    await attendee.get_by_test_id("raise-hand").click()
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    queue = (await moderator.call("queue:get"))["data"]["queue"]["queue"]
    granted = await moderator.call("floor:grant", {"entry_id": queue[0]["id"]})
    assert granted["ok"], granted
    await expect(attendee.get_by_test_id("speak-panel")).to_be_visible()
    await attendee.get_by_test_id("media-speak").click()
    await expect(attendee.get_by_test_id("speak-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    assert room.publisher(SPEAKER) is not None
    # The AV desk hears it (sound only: the camera was not asked for).
    await playing(av, "av-speaker", HEARING)
    # Holding the floor, the page is the speaker's view: the turn's controls first, the room's video put away.
    panel = attendee.get_by_test_id("speak-panel")
    await expect(panel.get_by_test_id("speak-state")).to_have_text("You are live in the room.")
    await expect(attendee.get_by_test_id("room-video")).to_be_hidden()
    await expect(attendee.locator("#questions-section")).to_be_hidden()
    await expect(panel.get_by_test_id("speak-finish")).to_be_visible()
    await expect(panel.get_by_test_id("speak-microphone")).to_be_hidden()  # tucked away until asked for
    for width, height, size in ((1280, 900, "desktop"), (390, 844, "phone")):
        await attendee.set_viewport_size({"width": width, "height": height})
        box = await panel.get_by_test_id("speak-mute").bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, f"mute is on the first screen ({size})"
        await shoot(attendee, f"speaker-live-{size}")
    await attendee.set_viewport_size({"width": 1280, "height": 900})

    # The moderators mute her: her own panel says so at once, by whom, and what happens next; her meter goes
    # quiet and her own unmute button cannot lift it. Unmuted, the panel says that too.
    participant = queue[0]["participant_id"]
    muted = await moderator.call(
        "participant:mute", {"participant_id": participant, "audio": True, "reason": "feedback"}
    )
    assert muted["ok"], muted
    told = panel.get_by_test_id("speak-moderated")
    await expect(told).to_be_visible()
    await expect(told).to_have_attribute("role", "alert")
    await expect(told).to_contain_text("The moderators muted your microphone")
    await expect(told).to_contain_text("only they can unmute you")
    await expect(told).to_contain_text("feedback")
    await expect(told).not_to_contain_text("camera")
    await expect(panel.get_by_test_id("speak-state")).to_have_text(
        "Muted by the moderators: the room does not hear you."
    )
    await expect(panel.get_by_test_id("speak-mute")).to_be_disabled()
    await expect(panel.get_by_test_id("speak-level")).to_have_attribute("data-level", "-100", timeout=5_000)
    await shoot(attendee, "speaker-muted-by-moderators")
    unmuted = await moderator.call("participant:mute", {"participant_id": participant, "audio": False})
    assert unmuted["ok"], unmuted
    await expect(told).to_contain_text("The moderators unmuted your microphone: the room hears you again.")
    await expect(panel.get_by_test_id("speak-state")).to_have_text("You are live in the room.")
    await expect(panel.get_by_test_id("speak-mute")).to_be_enabled()
    await shoot(attendee, "speaker-unmuted")

    # Revoked: the relay stops it, the page stops offering the microphone.
    await moderator.call("floor:end", {"entry_id": queue[0]["id"], "revoke": True})
    assert room.publisher(SPEAKER) is None
    await expect(attendee.get_by_test_id("speak-panel")).to_be_hidden()
    await expect(av.get_by_test_id("av-health")).to_contain_text("Room feed", timeout=10_000)
    # Where the media runs: one process, the session's origin, with its forwarded streams and capacity.
    await expect(av.get_by_test_id("av-relays").locator("[data-tier]")).to_have_attribute(
        "data-tier", "origin"
    )
    await expect(av.get_by_test_id("av-processes").locator("tbody tr")).to_have_count(1)
    # The moderator's "Media links", in French: sources and states in words, not the relay's codes.
    address, _, token = (await link(hemicycle, Role.MODERATOR)).partition("#")
    console = await open_page(browser, f"{address}?lang=fr#{token}", errors)
    health = console.get_by_test_id("av-health")
    room_row = health.locator('[data-source="room"]')
    await expect(room_row).to_contain_text("Flux de la salle", timeout=10_000)
    await expect(room_row).to_contain_text("Connecté", timeout=10_000)
    await expect(health.locator('[data-source="channel:fr"]')).to_contain_text("Interprétation : Français")
    await expect(health).not_to_contain_text("channel:fr")
    await shoot(console, "moderator-media-links-fr")

    # The attendee opens the session in another tab, where nothing was clicked yet, in a browser that plays
    # sound only after a click: the feed starts silently, and the control over the picture turns the sound on.
    await attendee.context.add_init_script(SOUND_AFTER_A_CLICK)
    tab = await attendee.context.new_page()
    tab.on("pageerror", lambda exc: errors.append(f"second tab: {exc}"))
    await tab.goto(f"{hemicycle.url}/s/{hemicycle.live_session}")
    sound = tab.get_by_test_id("player-sound")
    await expect(sound).to_be_visible(timeout=20_000)
    await expect(sound).to_have_text("Turn on the sound")
    await expect(tab.get_by_test_id("player-start")).to_be_hidden()
    await playing(tab, "room-video")
    assert await tab.get_by_test_id("room-video").evaluate("(v) => v.muted")
    await shoot(tab, "attendee-sound-off-until-asked")
    await sound.click()
    await expect(sound).to_be_hidden()
    await expect(tab.get_by_test_id("media-mute")).to_be_focused()
    await expect(tab.get_by_test_id("media-mute")).to_have_attribute("aria-pressed", "false")
    assert not await tab.get_by_test_id("room-video").evaluate("(v) => v.muted")
    await playing(tab, "room-video", HEARING)
    assert not real_errors(errors), errors


# A page's own marks: a reload (or a new document) loses them.
MARK = """(testid) => {
  window.sameDocument = true;
  window.mediaElement = document.querySelector(`[data-testid="${testid}"]`);
  return window.mediaElement.currentTime;
}"""
# The same <video> element, still in the page, still playing, and its time moving on from `since`.
PLAYS_ON = """([testid, since]) => {
  const video = document.querySelector(`[data-testid="${testid}"]`);
  return window.sameDocument === true && video === window.mediaElement && !video.paused
    && video.currentTime > since + 0.5;
}"""


async def switch_language(page: Page, code: str, direction: str = "ltr") -> None:
    await page.get_by_test_id("language-picker").select_option(code)
    await expect(page.locator("html")).to_have_attribute("lang", code)
    await expect(page.locator("html")).to_have_attribute("dir", direction)


async def plays_on(page: Page, testid: str, since: float) -> None:
    """The element marked by MARK plays on: no reload, no new element, its time advancing."""
    try:
        await page.wait_for_function(PLAYS_ON, arg=[testid, since], timeout=10_000)
    except Exception:
        state = await page.evaluate(
            """(testid) => { const v = document.querySelector(`[data-testid="${testid}"]`);
            return {same: window.sameDocument, element: v === window.mediaElement, paused: v && v.paused,
              time: v && v.currentTime}; }""",
            testid,
        )
        raise AssertionError(f"{testid} did not play on through the change of language: {state}") from None


async def test_language_changes_in_place_and_the_feed_plays_on(hemicycle: Running, browser: Browser) -> None:
    """The attendee, the speaker, the AV desk and an interpreter change the page's language while media plays:
    the words change (Arabic right to left), the same <video> keeps playing, and the speaker and the
    interpreter stay live on the same connection."""
    errors: list[str] = []
    audit = Audit()  # axe in each language reached in place, not only at load
    relay = hemicycle.server.app[MEDIA_KEY]
    av = await open_page(browser, await link(hemicycle, Role.AV), errors)
    await expect(av.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    await av.get_by_test_id("av-publish").click()
    await expect(av.get_by_test_id("av-room-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor", "civil_society", "KE")
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")

    # The attendee: French, then Arabic, then English again, the feed playing throughout.
    since = await attendee.evaluate(MARK, "room-video")
    await switch_language(attendee, "fr")
    await expect(attendee.get_by_test_id("media-watch")).to_have_text("Arrêter")
    await expect(attendee.get_by_test_id("raise-hand")).to_have_text("Demander la parole")
    await expect(attendee.get_by_test_id("connection-state")).to_have_text("Connecté.")
    await expect(attendee.get_by_test_id("media-state")).to_have_text("Connecté à la salle.")
    await expect(attendee.locator("#hand-type option[value=point_of_order]")).to_have_text("Motion d’ordre")
    await expect(attendee.get_by_test_id("session-state")).to_have_text("En cours")
    await expect(attendee.get_by_test_id("language-picker")).to_have_value("fr")
    assert "lang=fr" in attendee.url, "a reload keeps the language"
    await plays_on(attendee, "room-video", since)
    await shoot(attendee, "attendee-language-in-place-fr")
    since = await attendee.evaluate("() => window.mediaElement.currentTime")
    await switch_language(attendee, "ar", "rtl")
    await expect(attendee.get_by_test_id("media-watch")).to_have_text("إيقاف")
    await expect(attendee.get_by_test_id("raise-hand")).to_have_text("طلب الكلمة")
    await plays_on(attendee, "room-video", since)
    await shoot(attendee, "attendee-language-in-place-ar")
    await audit.check(attendee, "attendee, Arabic in place")
    since = await attendee.evaluate("() => window.mediaElement.currentTime")
    await switch_language(attendee, "en")
    await expect(attendee.get_by_test_id("media-watch")).to_have_text("Stop")
    await expect(attendee.locator("#hand-type option[value=point_of_order]")).to_have_text("Point of order")
    await plays_on(attendee, "room-video", since)

    # The speaker: given the floor and live, she switches to Spanish; she stays live on the same connection.
    await attendee.get_by_label("Language you will speak").select_option("en")
    await attendee.get_by_test_id("raise-hand").click()
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    queue = (await moderator.call("queue:get"))["data"]["queue"]["queue"]
    granted = await moderator.call("floor:grant", {"entry_id": queue[0]["id"]})
    assert granted["ok"], granted
    panel = attendee.get_by_test_id("speak-panel")
    await panel.get_by_test_id("media-speak").click()
    await expect(panel.get_by_test_id("speak-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(av, "av-speaker", HEARING)
    room = relay.relay(hemicycle.live_session)
    assert room is not None
    publication = room.publisher(SPEAKER)
    assert publication is not None
    await attendee.evaluate("() => { window.sameDocument = true; }")
    await switch_language(attendee, "es")
    await expect(panel.get_by_test_id("speak-state")).to_have_text("Está en directo en la sala.")
    await expect(panel.get_by_test_id("media-speak")).to_have_text("Desactivar mi micrófono")
    await expect(panel.get_by_test_id("speak-finish")).to_have_text("Terminar mi intervención")
    await expect(panel.locator(".speak-heading")).to_have_text("Tiene la palabra")
    assert await attendee.evaluate("() => window.sameDocument === true"), "the page was not reloaded"
    assert room.publisher(SPEAKER) is publication, "the same publication: no new offer"
    await expect(panel.get_by_test_id("speak-state")).to_have_attribute("data-state", "connected")
    await shoot(attendee, "speaker-language-in-place-es")
    await audit.check(attendee, "speaker, Spanish in place")

    # The AV desk: French while it receives the speaker; the same element plays on, and says who is live.
    since = await av.evaluate(MARK, "av-speaker")
    await switch_language(av, "fr")
    await expect(av.locator("#room-feed-heading")).to_have_text("Flux de la salle")
    await expect(av.locator("#state-heading")).to_have_text("État de la séance")
    await expect(av.get_by_test_id("av-live")).to_contain_text("En direct dans la salle")
    await expect(av.get_by_test_id("connection-state")).to_have_text("Connecté.")
    await plays_on(av, "av-speaker", since)
    await shoot(av, "av-language-in-place-fr")
    await audit.check(av, "AV desk, French in place")
    assert room.publisher(SPEAKER) is publication

    # The interpreter, on air in French, switches the booth's page to Russian: the channel stays on air.
    booth = await open_page(browser, await link(hemicycle, Role.INTERPRETER), errors)
    await booth.get_by_test_id("booth-channel").select_option("fr")
    await booth.get_by_test_id("booth-publish").click()
    await expect(booth.get_by_test_id("booth-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    channel = room.publisher("channel:fr")
    assert channel is not None
    await booth.evaluate("() => { window.sameDocument = true; }")
    await switch_language(booth, "ru")
    await expect(booth.get_by_test_id("booth-state")).to_have_text("В эфире: Французский.")
    await expect(booth.get_by_test_id("booth-publish")).to_have_text("Выйти из эфира")
    await expect(booth.locator("#booth-heading")).to_have_text("Канал устного перевода")
    assert await booth.evaluate("() => window.sameDocument === true"), "the page was not reloaded"
    assert room.publisher("channel:fr") is channel, "the same publication: still on air"
    await audit.check(booth, "interpreter, Russian in place")
    audit.assert_clean()
    assert not real_errors(errors), "\n".join(errors)
