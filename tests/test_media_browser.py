"""End to end in Chromium (fake camera and microphone): the AV desk publishes the room feed, an attendee
watches it and switches language, then speaks into the room when given the floor; the AV desk hears them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role
from server.media.relay import ROOM, SPEAKER
from server.media_http import MEDIA_KEY

from .browser import link, open_page, real_errors, register_in_browser
from .helpers import Running, eventually

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
    await attendee.get_by_test_id("media-watch").click()
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")
    await attendee.get_by_test_id("media-channel").select_option("fr")
    viewer = next(p for p in room.peers.values() if p.role == "view" and p.source == ROOM)
    await eventually(lambda: viewer.channel == "fr", timeout=5)
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute("data-state", "connected")
    # An interpreter goes on air in French: the attendee's sound now comes from the booth.
    booth = await open_page(browser, await link(hemicycle, Role.INTERPRETER), errors)
    await booth.get_by_test_id("booth-channel").select_option("fr")
    await booth.get_by_test_id("booth-publish").click()
    await expect(booth.get_by_test_id("booth-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
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

    # Revoked: the relay stops it, the page stops offering the microphone.
    await moderator.call("floor:end", {"entry_id": queue[0]["id"], "revoke": True})
    assert room.publisher(SPEAKER) is None
    await expect(attendee.get_by_test_id("speak-panel")).to_be_hidden()
    await expect(av.get_by_test_id("av-health")).to_contain_text("room", timeout=10_000)
    console = await open_page(browser, await link(hemicycle, Role.MODERATOR), errors)
    await expect(console.get_by_test_id("av-health").locator('[data-source="room"]')).to_contain_text(
        "connected", timeout=10_000
    )
    assert not real_errors(errors), errors
