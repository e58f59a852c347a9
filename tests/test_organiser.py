"""Organisers without a shell: the administrator creates, changes and deletes sessions over HTTP, audited."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Browser, expect

from server.domain.roles import Role

from .browser import link, open_page, real_errors
from .helpers import Running

NEW = {
    "title": "Youth and the digital future",
    "room": "Room 3",
    # No offset: read in the event's time zone (Geneva, UTC+2 in May).
    "starts_at": "2030-05-27T16:00:00",
    "ends_at": "2030-05-27T17:30:00",
    "languages": ["en", "fr"],
    "default_speaking_seconds": 120,
    "public": False,
    "waiting_room": True,
}


async def _call(
    running: Running, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, running.url + path, headers=headers, json=body) as response,
    ):
        return response.status, await response.json()


async def _count(running: Running) -> int:
    return len(await running.core.store.list_sessions(running.event_id))


async def test_create_change_and_delete_a_session(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    status, body = await _call(hemicycle, "POST", f"/api/events/{hemicycle.event_id}/sessions", admin, NEW)
    assert status == 201, body
    created = body["session"]
    assert created["starts_at"] == "2030-05-27T14:00:00Z" and created["ends_at"] == "2030-05-27T15:30:00Z"
    assert (
        created["state"] == "scheduled" and created["is_public"] is False and created["waiting_room"] is True
    )
    assert created["languages"] == ["en", "fr"] and created["default_speaking_seconds"] == 120
    session_id = created["id"]

    # A moderator in the session hears of the change at once.
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR, session_id), session_id)
    status, body = await _call(
        hemicycle,
        "PATCH",
        f"/api/sessions/{session_id}",
        admin,
        {"title": "Youth first", "waiting_room": None},
    )
    assert status == 200, body
    assert body["session"]["title"] == "Youth first" and body["session"]["room"] == "Room 3"
    assert body["session"]["waiting_room"] is None
    await moderator.wait_for("session:state", lambda p: p["session"]["title"] == "Youth first")

    status, body = await _call(hemicycle, "GET", f"/api/sessions/{session_id}/audit", admin)
    actions = {entry["action"]: entry for entry in body["entries"]}
    assert {"session.create", "session.update"} <= set(actions)
    assert actions["session.update"]["details"]["title"] == {"from": NEW["title"], "to": "Youth first"}

    before = await _count(hemicycle)
    status, body = await _call(hemicycle, "DELETE", f"/api/sessions/{session_id}", admin)
    assert status == 200 and body["deleted"]["id"] == session_id
    assert await _count(hemicycle) == before - 1
    status, body = await _call(hemicycle, "GET", f"/api/sessions/{session_id}", admin)
    assert status == 404


async def test_bad_input_is_refused_and_stores_nothing(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    path = f"/api/events/{hemicycle.event_id}/sessions"
    before = await _count(hemicycle)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**NEW, "speaker": "B"}, "speaker"),
        ({**NEW, "ends_at": "2030-05-27T15:00:00"}, "ends_at"),
        ({**NEW, "title": ""}, "title"),
        ({**NEW, "languages": ["de"]}, "languages"),
        ({**NEW, "starts_at": "yesterday"}, "starts_at"),
        ({**NEW, "default_speaking_seconds": 5}, "default_speaking_seconds"),
        ({**NEW, "waiting_room": "yes"}, "waiting_room"),
    ]
    for body, field in cases:
        status, reply = await _call(hemicycle, "POST", path, admin, body)
        assert status == 422 and reply["error"]["code"] == "invalid_input", (field, reply)
        assert reply["error"]["details"]["field"] == field, reply
    assert await _count(hemicycle) == before

    # A ref is unique in its event; a live session is ended before it is deleted.
    live = await hemicycle.core.store.get_session(hemicycle.live_session)
    status, reply = await _call(hemicycle, "POST", path, admin, {**NEW, "ref": live.ref})
    assert status == 409 and reply["error"]["code"] == "ref_taken"
    status, reply = await _call(hemicycle, "DELETE", f"/api/sessions/{live.id}", admin)
    assert status == 409 and reply["error"]["code"] == "session_live"
    status, reply = await _call(hemicycle, "PATCH", f"/api/sessions/{live.id}", admin, {"state": "ended"})
    assert status == 422 and reply["error"]["details"]["field"] == "state"
    assert await _count(hemicycle) == before
    assert (await hemicycle.core.store.get_session(live.id)).state.value == "live"


async def test_only_the_events_administrator(hemicycle: Running) -> None:
    path = f"/api/events/{hemicycle.event_id}/sessions"
    moderator = await hemicycle.staff_token(Role.MODERATOR)
    status, reply = await _call(hemicycle, "POST", path, moderator, NEW)
    assert status == 403 and reply["error"]["code"] == "forbidden"
    status, reply = await _call(hemicycle, "POST", path, None, NEW)
    assert status == 401
    status, reply = await _call(hemicycle, "PATCH", f"/api/sessions/{hemicycle.live_session}", moderator, {})
    assert status == 403
    # Without an administrator's token, an existing session and a missing one get the same answer.
    for session_id in (hemicycle.live_session, 999):
        status, reply = await _call(hemicycle, "DELETE", f"/api/sessions/{session_id}", None)
        assert (status, reply["error"]["code"]) == (401, "token_missing")
        status, reply = await _call(hemicycle, "DELETE", f"/api/sessions/{session_id}", moderator)
        assert (status, reply["error"]["code"]) == (403, "forbidden")


AGENDA = """\
event: {slug: wsis-demo}
sessions:
  - ref: side-1
    title: Open data in parliaments
    room: Room 4
    starts_at: 2030-05-28T09:00:00
    ends_at: 2030-05-28T10:00:00
"""


async def _upload(
    running: Running, token: str | None, body: bytes, content_type: str = "application/yaml"
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{running.url}/api/events/{running.event_id}/agenda?name=agenda.yaml"
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers, data=body) as response:
        return response.status, await response.json()


async def test_agenda_upload_has_the_command_lines_rules(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    event = await hemicycle.core.store.get_event(hemicycle.event_id)
    agenda = AGENDA.replace("wsis-demo", event.slug)
    before = await _count(hemicycle)
    hostile = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    unknown_field = agenda.replace("Room 4", "Room 4\n    speaker: B").encode()
    refusals: list[tuple[bytes, str, int, str]] = [
        (hostile.encode(), "application/yaml", 422, "invalid_agenda"),
        (b"x" * (64 * 1024 + 1), "application/yaml", 413, "payload_too_large"),
        (agenda.encode(), "text/plain", 415, "unsupported_media_type"),
        (
            agenda.replace("Room 4", "Room 4\n    speaker: B").encode(),
            "application/yaml",
            422,
            "invalid_agenda",
        ),
        (AGENDA.encode(), "application/yaml", 422, "invalid_agenda"),  # another event's file
    ]
    for body, content_type, status, code in refusals:
        got, reply = await _upload(hemicycle, admin, body, content_type)
        assert (got, reply["error"]["code"]) == (status, code), reply
    # The same message as `hemicycle import-agenda` would print, naming the file and the line.
    got, reply = await _upload(hemicycle, admin, unknown_field)
    assert reply["error"]["message"] == "agenda.yaml, line 3 (session 1): unknown field 'speaker'"
    assert await _count(hemicycle) == before
    moderator = await hemicycle.staff_token(Role.MODERATOR)
    assert (await _upload(hemicycle, moderator, agenda.encode()))[0] == 403

    got, reply = await _upload(hemicycle, admin, agenda.encode())
    assert got == 200 and (reply["created"], reply["updated"]) == (1, 0), reply
    added = next(s for s in reply["sessions"] if s["ref"] == "side-1")
    assert added["starts_at"] == "2030-05-28T07:00:00Z"  # Geneva time, the event's zone
    got, reply = await _upload(hemicycle, admin, agenda.encode())
    assert (reply["created"], reply["updated"]) == (0, 1)
    assert await _count(hemicycle) == before + 1


async def test_the_administrators_page_adds_changes_and_deletes_a_session(
    hemicycle: Running, browser: Browser
) -> None:
    errors: list[str] = []
    page = await open_page(browser, await link(hemicycle, Role.ADMIN), errors)
    form = page.get_by_test_id("session-form")
    await form.get_by_label("Title", exact=True).fill("Gender and the digital divide")
    await form.get_by_label("Room", exact=True).fill("Room 5")
    await form.get_by_label("Starts", exact=True).fill("2030-05-29T09:30")
    await form.get_by_label("Ends", exact=True).fill("2030-05-29T11:00")
    await form.get_by_label("French").check()
    await form.get_by_test_id("session-save").click()
    item = page.get_by_test_id("session-item").filter(has_text="Gender and the digital divide")
    await expect(item).to_contain_text("Room 5")
    stored = next(
        s for s in await hemicycle.core.store.list_sessions(hemicycle.event_id) if s.room == "Room 5"
    )
    assert stored.starts_at.isoformat() == "2030-05-29T07:30:00+00:00"  # typed in Geneva time
    assert stored.languages == ("en", "fr")

    await item.get_by_test_id("edit-session").click()
    await expect(form.get_by_label("Starts", exact=True)).to_have_value("2030-05-29T09:30")
    await form.get_by_label("Title", exact=True).fill("Gender, youth and the digital divide")
    await form.get_by_test_id("session-save").click()
    item = page.get_by_test_id("session-item").filter(has_text="Gender, youth and the digital divide")
    await expect(item).to_have_count(1)

    # A refusal is shown next to the form, and nothing changes.
    await form.get_by_label("Title", exact=True).fill("Backwards")
    await form.get_by_label("Starts", exact=True).fill("2030-05-29T12:00")
    await form.get_by_label("Ends", exact=True).fill("2030-05-29T11:00")
    await form.get_by_test_id("session-save").click()
    await expect(form).to_contain_text("must be after starts_at")

    await item.get_by_test_id("delete-session").click()
    dialog = page.get_by_test_id("delete-dialog")
    await dialog.get_by_role("button", name="Delete").click()
    await expect(item).to_have_count(0)
    assert stored.id not in {s.id for s in await hemicycle.core.store.list_sessions(hemicycle.event_id)}
    # The browser logs the refused request itself (422); nothing else went wrong.
    assert [e for e in real_errors(errors) if "status of 422" not in e] == [], errors
