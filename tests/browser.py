"""What the Chromium tests share: opening pages that report their errors, role links, the registration
form, and screenshots kept as test artefacts."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from server.domain.roles import Role

from .helpers import Running

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CONNECTED = "connected"


async def open_page(
    browser: Browser,
    url: str,
    errors: list[str],
    width: int = 1280,
    *,
    height: int = 900,
    connected: bool = False,
    init_scripts: tuple[str, ...] = (),
) -> Page:
    """A page in its own browser context; its script errors and console errors go to `errors`.

    `init_scripts` run in every document before the page's own scripts (to record what tests read). With
    `connected`, waits until the page says it is connected to the session."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    for script in init_scripts:
        await context.add_init_script(script)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))
    page.on("console", lambda msg: errors.append(f"{url}: {msg.text}") if msg.type == "error" else None)
    await page.goto(url)
    if connected:
        await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
    return page


def real_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "favicon" not in e]


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# The sizes every page is shot at (the room display also at a projector's): a desktop and a phone.
SIZES: dict[str, tuple[int, int]] = {"desktop": (1280, 800), "phone": (390, 844)}
PROJECTORS: dict[str, tuple[int, int]] = {"projector-1080p": (1920, 1080), "projector-720p": (1280, 720)}
SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


async def shoot_sizes(page: Page, name: str, sizes: dict[str, tuple[int, int]] = SIZES) -> None:
    """Screenshots of the page as it is now at each size (`{name}-{size}.png`); the viewport is put back.

    At each size the page must not scroll sideways: what does not fit wraps, or scrolls inside its own box."""
    before = page.viewport_size
    for size, (width, height) in sizes.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate(SETTLED)  # laid out (and the room display fitted) at the new size
        await shoot(page, f"{name}-{size}")
        wide = await page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width, f"{name} at {size} ({width} px) is {wide} px wide: it scrolls sideways"
    if before is not None:
        await page.set_viewport_size(before)
        await page.evaluate(SETTLED)


async def shoot_part(page: Page, selector: str, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(selector).screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def link(running: Running, role: Role) -> str:
    """The role's link to the live session (the event's admin page for the administrator)."""
    token = await running.staff_token(role)
    path = f"/e/{running.event_id}/admin" if role is Role.ADMIN else f"/s/{running.live_session}/{role.value}"
    return f"{running.url}{path}#token={token}"


async def send_registration(
    page: Page,
    name: str,
    group: str = "civil_society",
    country: str = "KE",
    affiliation: str = "Civil Society Coalition",
) -> None:
    """Fill in and send the attendee's registration form."""
    form = page.get_by_test_id("register-form")
    await form.get_by_label("Name", exact=False).first.fill(name)
    await form.get_by_label("Affiliation", exact=False).fill(affiliation)
    await form.get_by_label("Stakeholder group", exact=False).select_option(group)
    await form.get_by_label("Country", exact=False).fill(country)
    await form.locator("button[type=submit]").click()


async def register_in_browser(
    page: Page, name: str, group: str = "civil_society", country: str = "KE"
) -> None:
    """Register through the form, then wait for the page to connect."""
    await send_registration(page, name, group, country)
    await expect(page.get_by_test_id("connection-state")).to_contain_text(CONNECTED, ignore_case=True)
