"""The room display in Chromium: every state fits one screen at projector and monitor sizes, landscape and
portrait, with the countdown and the caption lines always on it; type gets smaller, the page never scrolls.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors, shoot
from .helpers import Client, Running

SCREENS = {"1080p": (1920, 1080), "720p": (1280, 720), "portrait": (1080, 1920)}
HAND = {"type": "statement", "language": "en"}
# Long names and affiliations near the registration limits (120 and 200 characters), in the six languages'
# scripts: the speaker's and the next speakers' lines are the ones that grow.
SPEAKERS = {
    "en": (
        "Maria-Christina Alexandrova-Featherstonehaugh Worthington-Smythe "
        "of the Northern Highlands Delegation",
        "International Telecommunication Development Bureau, Office for Capacity Building and Digital "
        "Inclusion in the Least Developed Countries and Small Island Developing States",
    ),
    "ar": (
        "عبد الرحمن بن محمد بن عبد العزيز آل سعود الأنصاري الخزرجي من وفد المنطقة الشمالية للمملكة",
        "الاتحاد الدولي للاتصالات، مكتب تنمية الاتصالات، إدارة بناء القدرات والإدماج الرقمي في أقل البلدان "
        "نمواً والدول الجزرية الصغيرة النامية",
    ),
    "zh": (
        "欧阳慕容司马诸葛上官皇甫端木公孙轩辕令狐长孙宇文尉迟独孤南宫西门东方夏侯百里呼延东郭"
        "第五澹台公冶太史申屠",
        "国际电信联盟电信发展局能力建设与数字包容办公室最不发达国家和小岛屿发展中国家区域代表处亚太地区分处",
    ),
    "ru": (
        "Александра Константиновна Преображенская-Верхнеднепровская из делегации Северо-Западного округа",
        "Международный союз электросвязи, Бюро развития электросвязи, Отдел наращивания потенциала и "
        "цифровой интеграции в наименее развитых странах",
    ),
}
QUESTION = (
    "Given that the commitments of the first phase were never fully funded, and that the indicators agreed "
    "in the review were measured only in the countries that could pay for the surveys, how will the next "
    "phase make sure that the least connected communities are counted, heard and financed, and who will "
    "be accountable when the targets are missed again, as they were in three of the last four reviews?"
)
CAPTIONS = (
    "and so the second point I want to make is about the financing of the community networks that we have "
    "seen grow in the last five years across the region, often without any public support at all,",
    "which means that the question of who pays for the last mile is still open, and it is the question "
    "that this session has to answer before the end of the week if we want the review to mean anything.",
)


async def boxes_inside(page: Page, state: str) -> None:
    """The document does not scroll, and the floor, the countdown, the next in line, the question being read
    and the caption lines each lie inside the viewport."""
    found: dict[str, Any] = await page.evaluate(
        """() => {
          const ids = ['floor-speaker', 'countdown', 'next-speakers', 'reading', 'caption-lines',
                       'connection-state'];
          const boxes = {};
          for (const id of ids) {
            const node = document.querySelector(`[data-testid="${id}"]`);
            if (!node || node.closest('[hidden]') || node.getClientRects().length === 0) continue;
            const r = node.getBoundingClientRect();
            boxes[id] = [r.left, r.top, r.right, r.bottom];
          }
          const root = document.documentElement;
          return { boxes, width: innerWidth, height: innerHeight,
                   scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight };
        }"""
    )
    width, height = found["width"], found["height"]
    assert found["scrollHeight"] <= height and found["scrollWidth"] <= width, (state, found)
    for name, (left, top, right, bottom) in found["boxes"].items():
        assert left >= 0 and top >= 0 and right <= width + 0.5 and bottom <= height + 0.5, (
            state,
            name,
            found,
        )


async def walk_sizes(page: Page, state: str, expected: tuple[str, ...]) -> None:
    for size, (width, height) in SCREENS.items():
        await page.set_viewport_size({"width": width, "height": height})
        # The display fits itself after a resize: wait until it has, then measure.
        await page.wait_for_function("() => document.documentElement.dataset.fit === 'done'")
        for testid in expected:
            await expect(page.get_by_test_id(testid).first).to_be_visible()
        await boxes_inside(page, f"{state} at {size}")
        await shoot(page, f"display-{state}-{size}")


async def test_the_room_display_fits_every_state_on_one_screen(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    display = await open_page(
        browser, await link(hemicycle, Role.DISPLAY), errors, width=1920, height=1080, connected=True
    )
    staff = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    captioner = await hemicycle.join(await hemicycle.staff_token(Role.CAPTIONER))

    await walk_sizes(display, "idle", ())

    async def speaker(name: str, affiliation: str, country: str) -> tuple[Client, int]:
        registered = await hemicycle.register(
            display_name=name,
            affiliation=affiliation,
            stakeholder_group="international_organization",
            country=country,
        )
        client = await hemicycle.join(registered["token"])
        raised = await client.call("hand:raise", HAND)
        assert raised["ok"], raised
        return client, int(raised["data"]["entry"]["id"])

    # A speaker with a short name, two long names in line.
    short, short_entry = await speaker("Li Wei", "Tsinghua University", "CN")
    for code in ("en", "ru"):
        await speaker(*SPEAKERS[code], "CH")
    assert (await staff.call("floor:grant", {"entry_id": short_entry}))["ok"]
    await expect(display.get_by_test_id("floor-speaker")).to_have_text("Li Wei")
    await walk_sizes(display, "speaker", ("floor-speaker", "countdown", "next-speakers"))

    # A question read aloud and two long caption lines.
    posted = await short.call("question:post", {"text": QUESTION, "to": "The co-facilitators of the review"})
    qid = posted["data"]["question"]["id"]
    assert (await staff.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    for stage in ("forwarded", "read"):
        assert (await staff.call("question:relay", {"question_id": qid, "stage": stage}))["ok"]
    for line in CAPTIONS:
        assert (await captioner.call("caption:post", {"language": "floor", "text": line}))["ok"]
    await expect(display.get_by_test_id("reading")).to_be_visible()
    await expect(display.get_by_test_id("caption-line")).to_have_count(2)
    await walk_sizes(display, "reading", ("floor-speaker", "countdown", "reading", "caption-lines"))

    # Long names and affiliations at the floor, in each script, the question still being read.
    current = short_entry
    for code in ("en", "ar", "zh", "ru"):
        name, affiliation = SPEAKERS[code]
        _, entry = await speaker(name, affiliation, "CH")
        assert (await staff.call("floor:end", {"entry_id": current}))["ok"]
        assert (await staff.call("floor:grant", {"entry_id": entry}))["ok"]
        current = entry
        await expect(display.get_by_test_id("floor-speaker")).to_have_text(name)
        await walk_sizes(display, f"long-{code}", ("floor-speaker", "countdown", "reading", "caption-lines"))

    # The page itself in Arabic (right to left) and in Russian (longer words): it still fits.
    address, _, token = (await link(hemicycle, Role.DISPLAY)).partition("#")
    for code in ("ar", "ru"):
        page = await open_page(
            browser, f"{address}?lang={code}#{token}", errors, width=1920, height=1080, connected=False
        )
        await expect(page.locator("html")).to_have_attribute("lang", code)
        await expect(page.get_by_test_id("reading")).to_be_visible()
        await walk_sizes(page, f"ui-{code}", ("floor-speaker", "countdown", "reading", "caption-lines"))
        await page.context.close()

    assert not real_errors(errors), errors
