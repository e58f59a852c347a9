"""In Chromium: a page built for another major version of the protocol stops and says to reload; a page
refused for connecting too often comes back when the server says it may."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from server.domain.roles import Role
from signaling.messages import PROTOCOL_VERSION

from .browser import link, open_page
from .conftest import make_settings, run_app
from .helpers import Running
from .test_connect_limits import connect_with


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


async def test_a_page_refused_for_its_rate_comes_back_when_told(
    tmp_path: Path, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two attempts per token in any five seconds (a minute in production): long enough that the page opens
    # while the token is still over its limit, short enough that its retry after `retry_after` is seen here.
    monkeypatch.setattr("signaling.connect_limits.MINUTE", 5.0)
    async for running in run_app(make_settings(tmp_path, connects_per_minute=2)):
        token = await running.staff_token(Role.CHAIR)
        for _ in range(2):
            client, refused = await connect_with(running, token)
            assert refused is None
            await client.close()
        _client, refused = await connect_with(running, token)
        assert refused is not None and refused["code"] == "rate_limited", refused
        errors: list[str] = []
        page = await open_page(browser, f"{running.url}/s/{running.live_session}/chair#token={token}", errors)
        # Refused for its rate, the page does not give up (it did: "The server refused the connection"); it
        # says it is connecting, tries again when told, and gets in.
        state = page.get_by_test_id("connection-state")
        await expect(state).to_contain_text("connecting", ignore_case=True)
        await expect(state).to_contain_text("connected", ignore_case=True, timeout=30_000)
        await expect(page.get_by_test_id("error-message")).to_be_hidden()
        assert not errors, errors
        await page.context.close()
