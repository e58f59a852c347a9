"""Withdrawing one leaked link: revoke or reissue one grant, over HTTP and from the command line."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from server.cli import main
from server.domain.roles import Role
from server.standing import FANOUT_GRACE_SECONDS, WATCH_SECONDS
from server.tokens import TokenService

from .browser import link, open_page, real_errors
from .helpers import SECRET, Running, eventually
from .media_peers import Publisher
from .test_cli import AGENDA_YAML
from .test_http import request
from .test_media_http import peers, post


def _grant_of(running: Running, token: str) -> int:
    return TokenService(SECRET).verify(token).grant_id


async def _refused_everywhere(running: Running, token: str) -> None:
    """The old token: HTTP, a Socket.IO connect and the media routes all refuse it as withdrawn."""
    status, body = await request(running, "GET", "/api/me", token=token)
    assert status == 401 and body["error"]["code"] == "token_revoked"
    refusal = await running.client().try_connect({"token": token, "session_id": running.live_session})
    assert refusal["data"]["code"] == "token_revoked"
    status, body = await request(
        running, "GET", f"/api/sessions/{running.live_session}/media/health", token=token
    )
    assert status == 401 and body["error"]["code"] == "token_revoked"


async def test_an_admin_revokes_one_link_and_its_connection_closes(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    moderator = await hemicycle.staff_token(Role.MODERATOR)
    chair = await hemicycle.staff_token(Role.CHAIR)
    grant = _grant_of(hemicycle, moderator)
    status, body = await request(
        hemicycle, "POST", f"/api/sessions/{hemicycle.live_session}/links", token=admin
    )
    assert status == 200 and body["grants"]["moderator"] == grant
    connected = await hemicycle.join(moderator)
    still = await hemicycle.join(chair)

    # Only the event's administrators; never their own link; a bad id is refused (the id parsing's own code).
    status, body = await request(hemicycle, "POST", f"/api/grants/{grant}/revoke", token=chair)
    assert status == 403 and body["error"]["code"] == "forbidden"
    own = _grant_of(hemicycle, admin)
    status, body = await request(hemicycle, "POST", f"/api/grants/{own}/revoke", token=admin)
    assert status == 403 and body["error"]["code"] == "self_target"
    status, body = await request(hemicycle, "POST", "/api/grants/99999/revoke", token=admin)
    assert status == 404 and body["error"]["code"] == "unknown_grant"
    status, body = await request(hemicycle, "POST", "/api/grants/x1/revoke", token=admin)
    assert 400 <= status < 500 and body["error"]["code"]

    status, body = await request(hemicycle, "POST", f"/api/grants/{grant}/revoke", token=admin)
    assert status == 200 and body["grant"]["id"] == grant and body["grant"]["revoked_at"]
    error = await connected.wait_for("error", lambda e: e["code"] == "token_revoked")
    assert error["event"] == "connect"
    await eventually(lambda: not connected.sio.connected, timeout=5)
    assert still.sio.connected
    await _refused_everywhere(hemicycle, moderator)

    status, body = await request(hemicycle, "POST", f"/api/grants/{grant}/revoke", token=admin)
    assert status == 409 and body["error"]["code"] == "no_change"
    status, body = await request(
        hemicycle, "GET", f"/api/sessions/{hemicycle.live_session}/audit", token=admin
    )
    revoked = [e for e in body["entries"] if e["action"] == "grant.revoke"]
    assert revoked and revoked[0]["target"] == f"grant:{grant}" and revoked[0]["actor"]["role"] == "admin"


async def test_a_reissued_link_names_the_same_person(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    chair = await hemicycle.staff_token(Role.CHAIR)
    grant = _grant_of(hemicycle, chair)
    connected = await hemicycle.join(chair)
    me_before = (await request(hemicycle, "GET", "/api/me", token=chair))[1]["me"]

    status, body = await request(hemicycle, "POST", f"/api/grants/{grant}/reissue", token=admin)
    assert status == 200, body
    assert body["replaces"] == grant and body["grant"]["id"] != grant and body["grant"]["role"] == "chair"
    found = re.search(r"/s/(\d+)/chair#token=([\w.-]+)$", body["link"])
    assert found and int(found.group(1)) == hemicycle.live_session
    fresh = found.group(2)
    await eventually(lambda: not connected.sio.connected, timeout=5)
    await _refused_everywhere(hemicycle, chair)
    status, me = await request(hemicycle, "GET", "/api/me", token=fresh)
    assert status == 200 and me["me"]["id"] == me_before["id"] and me["me"]["grant_id"] == body["grant"]["id"]
    await hemicycle.join(fresh)
    # The session's links now hand out the new grant.
    status, links = await request(
        hemicycle, "POST", f"/api/sessions/{hemicycle.live_session}/links", token=admin
    )
    assert links["grants"]["chair"] == body["grant"]["id"]

    # An attendee's registration is withdrawn, not reissued.
    attendee = await hemicycle.register()
    mine = _grant_of(hemicycle, attendee["token"])
    status, body = await request(hemicycle, "POST", f"/api/grants/{mine}/reissue", token=admin)
    assert status == 409 and body["error"]["code"] == "not_a_link"
    status, body = await request(
        hemicycle, "GET", f"/api/sessions/{hemicycle.live_session}/audit", token=admin
    )
    assert any(e["action"] == "grant.reissue" and e["target"] == f"grant:{grant}" for e in body["entries"])


async def test_a_link_withdrawn_by_another_process_closes_within_seconds(hemicycle: Running) -> None:
    """The command line has no connections of its own: the servers' standing watch closes them."""
    attendee = await hemicycle.register()
    connected = await hemicycle.join(attendee["token"])
    # As `hemicycle revoke-link` does it: in the database alone, telling no server.
    await hemicycle.core.store.revoke_grant(None, _grant_of(hemicycle, attendee["token"]))
    started = time.monotonic()
    error: Any = await connected.wait_for(
        "error", lambda e: e["code"] == "token_revoked", timeout=FANOUT_GRACE_SECONDS + 3 * WATCH_SECONDS
    )
    assert error["event"] == "connect"
    await eventually(lambda: not connected.sio.connected, timeout=3)
    assert time.monotonic() - started < FANOUT_GRACE_SECONDS + 4 * WATCH_SECONDS


def test_revoke_and_reissue_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command itself, called in this process (tests/test_cli.py runs it as a process of its own)."""
    for name in [k for k in os.environ if k.startswith("HEMICYCLE_") or k in ("DATABASE_URL", "REDIS_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HEMICYCLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HEMICYCLE_SECRET", SECRET)
    monkeypatch.setenv("HEMICYCLE_LOG_LEVEL", "WARNING")

    def hemicycle(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(AGENDA_YAML)
    assert hemicycle("import-agenda", str(agenda))[0] == 0
    code, links, _ = hemicycle("links", "1")
    assert code == 0
    grants = dict(re.findall(r"^\s+(\w[\w ]*?)\s+grant (\d+)\s", links, re.MULTILINE))
    moderator = grants["Moderator"]
    old_token = re.search(r"/s/1/moderator#token=([\w.-]+)", links)
    assert old_token

    code, out, _ = hemicycle("revoke-link", grants["Chair"])
    assert code == 0 and f"Withdrew grant {grants['Chair']}" in out
    code, _, err = hemicycle("revoke-link", grants["Chair"])
    assert code == 1 and "already withdrawn" in err
    code, _, err = hemicycle("revoke-link", "9999")
    assert code == 1 and "there is no grant 9999" in err

    code, out, _ = hemicycle("reissue-link", moderator)
    assert code == 0
    fresh = re.search(r"/s/1/moderator#token=([\w.-]+)", out)
    assert fresh and fresh.group(1) != old_token.group(1)
    # The session's links now name the new grant.
    assert f"grant {moderator} " not in hemicycle("links", "1")[1]


async def test_the_admin_page_withdraws_and_reissues_a_link(hemicycle: Running, browser: Browser) -> None:
    errors: list[str] = []
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    page = await open_page(browser, await link(hemicycle, Role.ADMIN), errors)
    item = page.locator(f'[data-session-id="{hemicycle.live_session}"]')
    await item.get_by_test_id("role-links").click()
    chair_field = page.locator(f"#link-{hemicycle.live_session}-chair")
    await expect(chair_field).to_have_value(re.compile("#token="))
    old_chair = await chair_field.input_value()

    await item.get_by_test_id("withdraw-moderator").click()
    dialog = page.get_by_test_id("withdraw-dialog")
    await dialog.get_by_role("button", name="Withdraw").click()
    await expect(item.get_by_test_id("withdrawn-moderator")).to_be_visible()
    await eventually(lambda: not moderator.sio.connected, timeout=5)

    await item.get_by_test_id("reissue-chair").click()
    await page.get_by_test_id("reissue-dialog").get_by_role("button", name="New link").click()
    await expect(chair_field).not_to_have_value(old_chair)
    fresh = (await chair_field.input_value()).split("#token=")[1]
    status, _ = await request(hemicycle, "GET", "/api/me", token=old_chair.split("#token=")[1])
    assert status == 401
    assert (await request(hemicycle, "GET", "/api/me", token=fresh))[0] == 200
    assert real_errors(errors) == []


async def test_withdrawing_the_av_link_stops_what_it_publishes_over_whip(hemicycle: Running) -> None:
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    admin = await hemicycle.staff_token(Role.ADMIN)
    publisher, again = Publisher(), Publisher()
    try:
        status, _, answer = await post(f"{base}/whip", await publisher.offer(), av)
        assert status == 201, answer
        await publisher.accept(answer)
        await eventually(lambda: peers(hemicycle) == 1, timeout=10)
        status, body = await request(
            hemicycle, "POST", f"/api/grants/{_grant_of(hemicycle, av)}/revoke", token=admin
        )
        assert status == 200, body
        # An encoder has no Socket.IO connection: its WHIP session ends with the link.
        await eventually(lambda: peers(hemicycle) == 0, timeout=5)
        status, _, refused = await post(f"{base}/whip", await again.offer(), av)
        assert status == 401 and refused["error"]["code"] == "token_revoked"
    finally:
        await publisher.close()
        await again.close()
