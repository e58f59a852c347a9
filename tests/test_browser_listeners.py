"""End to end in Chromium, with real aiortc publishers (issue 21, items 7 and 8): a listener picks the French
channel and the picture plays on (same element, same stream, same relay connection: only the sound is
swapped on the server); they hear the floor under the interpretation at a level they choose, mixed in the page
with Web Audio from a second, sound-only subscription; they see the sign-language interpreter in a corner of
the player, and the room display shows it with `?sign=1`."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role
from server.media.relay import ROOM, SIGN
from server.media_http import MEDIA_KEY

from .browser import link, open_page, real_errors, register_in_browser, shoot
from .helpers import Running, eventually
from .test_media_browser import MARK, PLAYS_ON, playing
from .test_media_signaling import publish, staff
from .test_sign_channel import publish_sign

pytestmark = pytest.mark.browser

# The picture as the page shows it: the same element and stream as marked, playing, with a decoded frame.
SAME_PICTURE = """([testid, since, stream]) => {
  const video = document.querySelector(`[data-testid="${testid}"]`);
  return video === window.mediaElement && video.srcObject && video.srcObject.id === stream
    && !video.paused && video.videoWidth > 0 && video.currentTime > since + 0.5;
}"""


async def test_channel_change_keeps_the_picture_and_the_floor_plays_under_it(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    relay = hemicycle.server.app[MEDIA_KEY]
    # Real publishers, from aiortc: the room feed (tone and picture), French (a tone), the sign interpreter.
    av = await staff(hemicycle, Role.AV)
    room_feed, published = await publish(av, "room")
    assert published["ok"], published
    interpreter = await staff(hemicycle, Role.INTERPRETER)
    french, published = await publish(interpreter, "channel", channel="fr")
    assert published["ok"], published
    signer, published = await publish_sign(interpreter)
    assert published["ok"], published
    room = relay.relay(hemicycle.live_session)
    assert room is not None

    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors, width=1280)
    await register_in_browser(attendee, "Zoë Okafor", "civil_society", "KE")
    await expect(attendee.get_by_test_id("media-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(attendee, "room-video")
    viewer = next(p for p in room.peers.values() if p.role == "view" and p.source == ROOM)
    original = attendee.get_by_test_id("original-audio")
    await expect(original).to_be_hidden()  # the floor plays: nothing to hear under it

    # French: the same <video>, the same stream and the same relay connection; the picture plays on.
    since = await attendee.evaluate(MARK, "room-video")
    stream = await attendee.get_by_test_id("room-video").evaluate("(v) => v.srcObject.id")
    await attendee.get_by_test_id("media-channel").select_option("fr")
    await eventually(lambda: viewer.channel == "fr", timeout=5)
    await attendee.wait_for_function(SAME_PICTURE, arg=["room-video", since, stream], timeout=10_000)
    assert viewer.id in room.peers and viewer.feeds["audio"] is room.feed("channel:fr", "audio")
    assert [p.id for p in room.peers.values() if p.role == "view" and p.source == ROOM] == [viewer.id]

    # The floor under the interpretation: a second, sound-only subscription on the floor, mixed in the page.
    await expect(original).to_be_visible()
    await attendee.get_by_test_id("media-original").check()
    await expect(original).to_have_attribute("data-state", "mixing", timeout=20_000)
    await expect(original).to_have_attribute("data-gain", "0.2")
    under = await eventually(
        lambda: [
            p for p in room.peers.values() if p.role == "view" and p.id != viewer.id and p.source == ROOM
        ],
        timeout=10,
    )
    assert len(under) == 1 and under[0].channel == "floor" and "video" not in under[0].tracks
    await attendee.wait_for_function(
        "(node) => Number(node.dataset.level) > -45",
        arg=await attendee.get_by_test_id("media-original-meter").element_handle(),
        timeout=10_000,
    )
    # The level is the listener's, times the page's volume; muting the page silences the floor too.
    await attendee.get_by_test_id("media-original-level").fill("50")
    await expect(original).to_have_attribute("data-gain", "0.5")
    await attendee.get_by_test_id("media-volume").fill("50")
    await expect(original).to_have_attribute("data-gain", "0.25")
    await attendee.get_by_test_id("media-mute").click()
    await expect(original).to_have_attribute("data-gain", "0")
    await attendee.get_by_test_id("media-mute").click()
    await expect(original).to_have_attribute("data-gain", "0.25")
    # The picture never stopped.
    since = await attendee.evaluate("() => window.mediaElement.currentTime")
    await attendee.wait_for_function(PLAYS_ON, arg=["room-video", since], timeout=10_000)
    await shoot(attendee, "listener-original-audio")

    # Back to the floor: nothing to mix, the second subscription ends.
    await attendee.get_by_test_id("media-channel").select_option("floor")
    await expect(original).to_have_attribute("data-state", "off")
    await eventually(lambda: under[0].id not in room.peers, timeout=10)

    # The sign-language interpreter, on air: offered, chosen, shown in a corner of the player.
    offer = attendee.get_by_test_id("media-sign-offer")
    await expect(offer).to_be_visible(timeout=5_000)
    await attendee.get_by_test_id("media-sign").check()
    tile = attendee.get_by_test_id("sign-tile")
    await expect(tile).to_have_attribute("data-state", "showing", timeout=20_000)
    await playing(attendee, "sign-video")
    player = await attendee.get_by_test_id("player").bounding_box()
    corner = await tile.bounding_box()
    assert player and corner and corner["width"] < player["width"] / 2, (player, corner)
    await shoot(attendee, "listener-sign-tile")

    # The room display, with ?sign=1 in its link, shows it in a corner too.
    display_link = (await link(hemicycle, Role.DISPLAY)).replace("/display#", "/display?sign=1#")
    display = await open_page(browser, display_link, errors, width=1920, height=1080)
    display_tile = display.get_by_test_id("sign-tile")
    await expect(display_tile).to_have_attribute("data-state", "showing", timeout=20_000)
    await shoot(display, "display-sign-corner")

    # Off air: the offer and the tiles go.
    await signer.close()
    await expect(offer).to_be_hidden(timeout=10_000)
    await expect(tile).to_be_hidden()
    await expect(display_tile).to_be_hidden()
    for peer in (room_feed, french):
        await peer.close()
    assert not real_errors(errors), errors


async def test_a_sign_interpreter_goes_on_air_from_the_interpreter_page(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    relay = hemicycle.server.app[MEDIA_KEY]
    av = await staff(hemicycle, Role.AV)
    room_feed, published = await publish(av, "room")
    assert published["ok"], published
    booth = await open_page(browser, await link(hemicycle, Role.INTERPRETER), errors, connected=True)
    attendee = await open_page(browser, f"{hemicycle.url}/s/{hemicycle.live_session}", errors)
    await register_in_browser(attendee, "Zoë Okafor", "civil_society", "KE")
    await playing(attendee, "room-video")
    offer = attendee.get_by_test_id("media-sign-offer")
    await expect(offer).to_be_hidden()  # not on air: not offered

    # The browser's (fake) camera goes on air on the sign source.
    await booth.get_by_test_id("sign-publish").click()
    await expect(booth.get_by_test_id("sign-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )
    await playing(booth, "sign-preview")
    room = relay.relay(hemicycle.live_session)
    assert room is not None and room.publisher(SIGN) is not None
    await expect(offer).to_be_visible(timeout=5_000)
    await attendee.get_by_test_id("media-sign").check()
    await expect(attendee.get_by_test_id("sign-tile")).to_have_attribute(
        "data-state", "showing", timeout=20_000
    )
    await playing(attendee, "sign-video")
    await shoot(booth, "interpreter-sign-booth")

    # Off air from the booth: the attendee's tile goes.
    await booth.get_by_test_id("sign-publish").click()
    await expect(booth.get_by_test_id("sign-state")).to_have_attribute("data-state", "stopped")
    await expect(attendee.get_by_test_id("sign-tile")).to_be_hidden(timeout=10_000)
    await room_feed.close()
    assert not real_errors(errors), errors
