"""The archive page in Chromium: the recording plays segment by segment on one clock, a chapter link seeks to
its time (video.currentTime, in the segment that holds it), captions are WebVTT tracks of the segment, a
language channel plays in place of the floor's sound, and who may open it is the administrator's choice."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role

from .browser import open_page, real_errors, shoot
from .firefox import Firefox
from .test_accessibility import Audit
from .test_archive import Recorded, recorded

__all__ = ["recorded"]


async def player(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        """() => {
            const video = document.getElementById('player');
            return {time: video.currentTime, segment: video.dataset.segment, ready: video.readyState,
                    src: video.getAttribute('src') || '', muted: video.muted,
                    clock: Number(document.getElementById('archive').dataset.time)};
        }"""
    )
    return state


async def wait_player(page: Page, segment: int, time: float, clock: float) -> dict[str, Any]:
    """Wait until the (paused) video shows `segment` at `time`, `clock` seconds into the recording."""
    # tests.helpers.eventually takes a plain function: the page is polled here, within ten seconds.
    for _ in range(200):
        state = await player(page)
        if state["segment"] == str(segment) and state["ready"] >= 1 and abs(state["time"] - time) < 0.05:
            assert abs(state["clock"] - clock) < 0.05
            return state
        await page.wait_for_timeout(50)
    raise AssertionError(f"the player did not reach segment {segment} at {time}: {await player(page)}")


async def cues(page: Page, language: str) -> list[tuple[float, str]]:
    found: list[list[Any]] = await page.evaluate(
        """(language) => {
            const element = [...document.querySelectorAll('#player track')]
                .find((t) => t.dataset.language === language);
            const list = element && element.track.cues;
            return list ? [...list].map((c) => [c.startTime, c.text]) : [];
        }""",
        language,
    )
    return [(float(start), text) for start, text in found]


async def test_archive_page_plays_and_seeks(recorded: Recorded, browser: Browser) -> None:
    running = recorded.running
    sid = running.live_session
    errors: list[str] = []
    moderator = await running.staff_token(Role.MODERATOR)
    page = await open_page(browser, f"{running.url}/s/{sid}/archive#token={moderator}", errors)
    chapters = page.get_by_test_id("chapter")
    await expect(chapters).to_have_count(3)
    await expect(chapters.nth(0)).to_contain_text("Amina Diallo (Ministry of Communication)")
    await expect(chapters.nth(1)).to_contain_text("Right of reply")
    await expect(chapters.nth(2)).to_contain_text("How will the action lines be measured?")
    assert "#token=" not in page.url
    first, second = recorded.floor
    await wait_player(page, first, 0.0, 0.0)

    # Jump to the second intervention: 3 s into the recording, in the first floor segment; it plays on.
    # Where each seek landed, read as it lands (the video plays on at once after it: on a busy machine
    # a few frames may pass before the event is handled, hence a tenth of a second).
    await page.evaluate(
        """() => {
            const video = document.getElementById('player');
            window.seeks = [];
            const note = () => window.seeks.push([video.dataset.segment, video.currentTime]);
            video.addEventListener('seeked', note);
        }"""
    )
    await chapters.nth(1).get_by_test_id("chapter-play").click()
    # (The page's first seek, to 0 s, may land after the listener is in place.)
    for _ in range(200):
        seeks = await page.evaluate("window.seeks")
        if any(segment == str(first) and abs(time - 3.0) < 0.1 for segment, time in seeks):
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"no seek to 3 s in segment {first}: {seeks}")
    assert page.url.endswith(f"/s/{sid}/archive?chapter=c2")
    # At the first segment's end the second one takes over: the recording plays on, past 4 s.
    for _ in range(200):
        state = await player(page)
        if state["segment"] == str(second) and state["clock"] > 4.2:
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the recording does not play on: {await player(page)}")
    await page.evaluate("document.getElementById('player').pause()")

    # A shared link to the question read aloud (6 s) opens the second segment, 2 s into its file.
    await page.goto(f"{running.url}/s/{sid}/archive?chapter=c3")
    await wait_player(page, second, 2.0, 6.0)
    await expect(page.get_by_test_id("archive-clock")).to_have_text("0:06")

    # Captions: the segment's own WebVTT, timed from where it starts (the floor's line at 5 s is at 1 s).
    await page.get_by_test_id("captions-select").select_option("floor")

    for _ in range(200):
        found = await cues(page, "floor")
        if found:
            break
        await page.wait_for_timeout(50)
    assert found == [(1.0, "Thank you, Chair.")]

    # The French channel plays in place of the floor's sound.
    await page.get_by_test_id("channel-select").select_option("fr")
    audio = page.get_by_test_id("archive-channel-audio")
    segment = f"/api/sessions/{sid}/recordings/{recorded.recording}/segments/{recorded.french}"
    await expect(audio).to_have_attribute("src", f"{segment}?key={await media_key(page)}")
    assert (await player(page))["muted"] is True
    # The channel's file starts with the recording: it is put 6 s in once its metadata has loaded.
    for _ in range(200):
        channel_time = await page.evaluate("document.getElementById('channel-audio').currentTime")
        if abs(channel_time - 6.0) < 0.3:
            break
        await page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the channel is at {channel_time} s, not 6 s")

    downloads = page.get_by_test_id("downloads")
    await expect(downloads.locator("a")).to_have_count(3 + 2 + 2)
    await shoot(page, "archive")
    # axe-core on the page, as on every other (tests/test_accessibility.py).
    audit = Audit()
    await audit.check(page, "archive")
    audit.assert_clean()
    assert not real_errors(errors), "\n".join(errors)


async def media_key(page: Page) -> str:
    src: str = await page.evaluate("document.getElementById('player').getAttribute('src')")
    return src.split("key=", 1)[1].split("&", 1)[0]


async def test_archive_access_in_the_browser(recorded: Recorded, browser: Browser) -> None:
    running = recorded.running
    sid = running.live_session
    errors: list[str] = []
    # An attendee: staff only, the page says so.
    attendee = await open_page(browser, f"{running.url}/s/{sid}/archive#token={recorded.attendee}", errors)
    await expect(attendee.get_by_test_id("error-message")).to_contain_text("organisers only")
    audit = Audit()
    await audit.check(attendee, "archive, refused")
    audit.assert_clean()

    # The administrator, from the administrator's page, makes it public.
    admin = await running.staff_token(Role.ADMIN)
    page = await open_page(browser, f"{running.url}/e/{running.event_id}/admin#token={admin}", errors)
    item = page.locator(f'[data-testid="session-item"][data-session-id="{sid}"]')
    await item.get_by_test_id("archive-link").click()
    access = page.get_by_test_id("archive-access")
    await expect(access).to_have_value("staff")
    await access.select_option("public")
    await expect(page.get_by_test_id("archive-status")).to_contain_text("Everyone in the session")

    entries = await running.core.store.audit_log(sid)
    assert [e["details"] for e in entries if e["action"] == "archive.set_access"] == [
        {"from": "staff", "to": "public"}
    ]
    await attendee.reload()
    await expect(attendee.get_by_test_id("chapter")).to_have_count(3)

    # The moderator reaches it from the session record.
    moderator = await running.staff_token(Role.MODERATOR)
    report = await open_page(browser, f"{running.url}/s/{sid}/report#token={moderator}", errors)
    await report.get_by_test_id("archive-link").click()
    await expect(report.get_by_test_id("chapter")).to_have_count(3)
    assert not [e for e in real_errors(errors) if "403" not in e], "\n".join(errors)


@pytest.mark.firefox
async def test_archive_page_in_firefox(recorded: Recorded, firefox: Firefox) -> None:
    """The same file-by-file player in Firefox ESR: a shared chapter link opens the second segment 2 s in, and
    it plays on from there."""
    running = recorded.running
    sid = running.live_session
    moderator = await running.staff_token(Role.MODERATOR)
    await firefox.goto(f"{running.url}/s/{sid}/archive?chapter=c3#token={moderator}")
    placed = """
        const video = document.getElementById('player');
        return video.dataset.segment === arguments[0] && video.readyState >= 1
            && Math.abs(video.currentTime - 2.0) < 0.05
            && Math.abs(Number(document.getElementById('archive').dataset.time) - 6.0) < 0.05;
    """
    await firefox.wait_for(placed, str(recorded.floor[1]), what="the player at the third chapter")
    # Muted: Firefox lets a page start a silent video without a click.
    await firefox.js("const v = document.getElementById('player'); v.muted = true; v.play();")
    await firefox.wait_for(
        "return document.getElementById('player').currentTime > 2.5;", what="the recording to play on"
    )
    assert not await firefox.errors()
