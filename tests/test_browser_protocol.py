"""In Chromium: a page built for another major version of the protocol stops and says to reload."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role
from signaling.messages import PROTOCOL_VERSION

from .browser import link, open_page
from .helpers import Running


async def test_a_page_for_another_protocol_version_asks_for_a_reload(
    hemicycle: Running, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[str] = []
    page = await open_page(browser, await link(hemicycle, Role.CHAIR), errors, connected=True)
    # The server is updated to the next major version while the page stays open: its next welcome says so.
    monkeypatch.setattr("signaling.connections.PROTOCOL_VERSION", PROTOCOL_VERSION + 1)
    await page.reload()
    notice = page.get_by_test_id("error-message")
    await expect(notice).to_contain_text("Reload the page")
    await expect(notice).to_contain_text(f"protocol version {PROTOCOL_VERSION + 1}")
    await expect(page.get_by_test_id("connection-state")).not_to_contain_text("connected", ignore_case=True)
    # Back to the version the page speaks: it connects again.
    monkeypatch.undo()
    await page.reload()
    await expect(page.get_by_test_id("connection-state")).to_contain_text("connected", ignore_case=True)
