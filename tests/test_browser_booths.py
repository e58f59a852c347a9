"""The interpretation booth's page in Chromium (fake microphone): two interpreters of one booth go on air, one
is on air and the other stands by; the handover is offered and taken with the page's buttons and the relay
switches the channel; the cough key silences it while held; the floor's language shows; "slow down" reaches
the chair's page."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role
from server.media.relay import channel
from server.media_http import MEDIA_KEY

from .browser import link, open_page, real_errors, shoot
from .helpers import Running, eventually

pytestmark = pytest.mark.browser


async def booth_link(running: Running, name: str) -> tuple[str, int]:
    admin = await running.staff_token(Role.ADMIN)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/api/sessions/{running.live_session}/booths/links",
            json={"languages": ["es"], "name": name},
            headers={"Authorization": f"Bearer {admin}"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 201, body
    # The link is made for the configured public address: the same page and token on the test server.
    token = str(body["link"]).split("#token=", 1)[1]
    return f"{running.url}/s/{running.live_session}/interpreter#token={token}", int(body["participant_id"])


async def on_air(page: Page) -> None:
    await expect(page.get_by_test_id("booth-channel")).to_have_value("es")
    await page.get_by_test_id("booth-publish").click()
    await expect(page.get_by_test_id("booth-state")).to_have_attribute(
        "data-state", "connected", timeout=20_000
    )


async def test_booth_page_handover_on_air_indicator_cough_and_floor(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    ana_link, ana_id = await booth_link(hemicycle, "Ana")
    ben_link, ben_id = await booth_link(hemicycle, "Ben")
    ana = await open_page(browser, ana_link, errors, connected=True)
    ben = await open_page(browser, ben_link, errors, connected=True)
    chair = await open_page(browser, await link(hemicycle, Role.CHAIR), errors, connected=True)
    # The link names one booth: the page offers only it.
    await expect(ana.get_by_test_id("booth-channel").locator("option")).to_have_count(1)

    await on_air(ana)
    await expect(ana.get_by_test_id("booth-on-air")).to_have_attribute("data-on-air", "me")
    await on_air(ben)
    await expect(ben.get_by_test_id("booth-state")).to_have_text("Standing by: Spanish.")
    await expect(ben.get_by_test_id("booth-on-air")).to_have_attribute("data-on-air", "partner")
    await expect(ben.get_by_test_id("booth-on-air")).to_contain_text("On air: Ana, for 0:")
    relay = hemicycle.server.app[MEDIA_KEY].origin(hemicycle.live_session)
    assert relay is not None
    on_channel = relay.publisher(channel("es"))
    assert on_channel is not None and on_channel.participant_id == ana_id
    assert len(relay.booth_publishers(channel("es"))) == 2

    # Ben cannot take before Ana offers; then the handover, with the pages' buttons.
    take = ben.get_by_test_id("booth-take")
    await expect(take).to_be_disabled()
    await expect(ana.get_by_test_id("booth-take")).to_be_disabled()
    await ana.get_by_test_id("booth-offer").click()
    await expect(ben.get_by_test_id("booth-on-air")).to_contain_text("The handover is offered.")
    await expect(take).to_be_enabled()
    await shoot(ben, "booth-handover-offered")
    await take.click()
    await expect(ben.get_by_test_id("booth-on-air")).to_have_attribute("data-on-air", "me")
    await expect(ben.get_by_test_id("booth-state")).to_have_text("On air: Spanish.")
    await expect(ana.get_by_test_id("booth-on-air")).to_contain_text("On air: Ben")
    await expect(ana.get_by_test_id("booth-state")).to_have_text("Standing by: Spanish.")
    await eventually(lambda: getattr(relay.publisher(channel("es")), "participant_id", None) == ben_id)

    # The cough key, held: the channel carries silence and stays on air; released: the voice again.
    cough = ben.get_by_test_id("booth-cough")
    await cough.hover()
    await ben.mouse.down()
    await expect(cough).to_have_attribute("aria-pressed", "true")
    await eventually(lambda: relay.feed(channel("es"), "audio").silenced)
    await expect(ana.get_by_test_id("booth-on-air")).to_have_attribute("data-silenced", "true")
    assert relay.publisher(channel("es")) is not None
    await ben.mouse.up()
    await eventually(lambda: not relay.feed(channel("es"), "audio").silenced)

    # The floor passes to a French speaker, with two more in line.
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    entries = []
    for name, language in (("Sophie", "fr"), ("Ahmed", "ar"), ("Lucía", "es")):
        speaker = await hemicycle.join((await hemicycle.register(display_name=name))["token"])
        hand = await speaker.call("hand:raise", {"type": "statement", "language": language})
        entries.append(hand["data"]["entry"]["id"])
    assert (await moderator.call("floor:grant", {"entry_id": entries[0]}))["ok"]
    await expect(ana.get_by_test_id("booth-floor")).to_have_text("Floor: French. Next: Arabic, then Spanish.")
    await expect(ana.get_by_test_id("booth-stay-off")).to_be_hidden()

    # "Slow down" reaches the chair's page.
    await ben.get_by_test_id("booth-slow-down").click()
    await expect(ben.get_by_test_id("booth-feedback")).to_have_text(
        "The chair was asked to slow the speaker down."
    )
    await expect(chair.get_by_test_id("slow-down-notice")).to_contain_text("The Spanish booth asks Sophie")
    await shoot(ben, "booth-on-air")
    await shoot(chair, "chair-slow-down")

    # Ana listens to the floor, straight from the speaker's publication, then to the French booth (relay),
    # at her own volume.
    await ana.get_by_test_id("booth-hear").click()

    def listening() -> object:
        return next(
            (p for p in relay.peers.values() if p.role == "view" and p.participant_id == ana_id), None
        )

    peer = await eventually(listening, timeout=20)
    hear = ana.get_by_test_id("booth-hear")
    await expect(hear).to_have_attribute("data-state", "connected", timeout=20_000)
    assert peer.direct and peer.channel == "floor"
    await ana.get_by_test_id("booth-listen").select_option("fr")
    await eventually(lambda: peer.channel == "fr")
    await ana.get_by_test_id("booth-volume").fill("30")
    assert await ana.get_by_test_id("booth-audio").evaluate("(audio) => audio.volume") == 0.3

    # The next speaker speaks Spanish: the Spanish booth is told to stay off air.
    assert (await moderator.call("floor:grant", {"entry_id": entries[2]}))["ok"]
    await expect(ana.get_by_test_id("booth-stay-off")).to_be_visible()
    await expect(ana.get_by_test_id("booth-stay-off")).to_contain_text("stay off air")
    assert not real_errors(errors), "\n".join(errors)


async def test_the_admin_page_makes_an_interpreter_link_for_one_booth(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    page = await open_page(browser, await link(hemicycle, Role.ADMIN), errors)
    item = page.locator(f'[data-session-id="{hemicycle.live_session}"]')
    await item.get_by_test_id("role-links").click()
    form = item.get_by_test_id("booth-link-form")
    # No booth ticked: the page says what is missing, nothing is made.
    await form.get_by_test_id("booth-link-name").fill("Ana Ruiz")
    await form.get_by_test_id("booth-link-make").click()
    await expect(form.get_by_test_id("error-message")).to_contain_text("booths")
    await form.get_by_test_id("booth-link-es").check()
    await form.get_by_test_id("booth-link-make").click()
    made = item.get_by_test_id("booth-links").locator("input")
    await expect(made).to_have_count(1)
    await expect(made).to_have_value(re.compile("#token="))
    await shoot(page, "admin-booth-link")
    token = (await made.input_value()).split("#token=", 1)[1]
    interpreter = await hemicycle.join(token)
    booths = (await interpreter.call("booth:get"))["data"]
    assert booths["mine"] == ["es"] and booths["sign"] is False
    assert interpreter.last("welcome")["me"]["display_name"] == "Ana Ruiz"
    # A sign-language interpreter's link: the sign channel ticked, no booth.
    await form.get_by_test_id("booth-link-name").fill("Signe Berg")
    await form.get_by_test_id("booth-link-es").uncheck()
    await form.get_by_test_id("booth-link-sign").check()
    await form.get_by_test_id("booth-link-make").click()
    await expect(made).to_have_count(2)
    await expect(item.get_by_test_id("booth-links")).to_contain_text(
        "Signe Berg (Sign-language interpretation)"
    )
    signer = await hemicycle.join((await made.nth(1).input_value()).split("#token=", 1)[1])
    booths = (await signer.call("booth:get"))["data"]
    assert booths["mine"] == [] and booths["sign"] is True
    assert not real_errors(errors), "\n".join(errors)
