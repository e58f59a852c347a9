"""The HTTP API over a real socket: registration, tokens, roles, and every kind of bad input."""

from __future__ import annotations

import os
import socket
from typing import Any

import aiohttp
import pytest

from server.domain.roles import Role

from .helpers import REGISTRATION, Running


async def request(
    running: Running, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, running.url + path, headers=headers, **kwargs) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def count_participants(running: Running) -> int:
    from sqlalchemy import func, select

    from server.db import models

    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(models.Participant)) or 0)


async def test_health_and_public_listing(hemicycle: Running) -> None:
    status, body = await request(hemicycle, "GET", "/api/health")
    assert (
        status == 200 and body["status"] == "ok" and body["database"] == "sqlite" and body["redis"] is False
    )
    status, body = await request(hemicycle, "GET", "/api/events")
    assert status == 200 and body["events"][0]["slug"] == "wsis20-hle"
    status, body = await request(hemicycle, "GET", f"/api/events/{hemicycle.event_id}")
    assert {s["state"] for s in body["sessions"]} == {"live", "scheduled", "ended"}
    status, body = await request(hemicycle, "GET", f"/api/sessions/{hemicycle.live_session}")
    assert status == 200 and body["session"]["languages"] == ["ar", "zh", "en", "fr", "ru", "es"]


async def test_health_names_no_host_and_ready_follows_the_database(hemicycle: Running) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{hemicycle.url}/api/health") as response:
        body = await response.json()
        # Neither aiohttp's nor Python's version, nor the host name or the process id.
        assert response.headers["Server"] == "Hemicycle"
    assert body["degraded"] == [] and socket.gethostname() not in str(body)
    assert str(os.getpid()) not in body["instance"]
    status, body = await request(hemicycle, "GET", "/api/ready")
    assert status == 200 and body["status"] == "ok"

    async def unreachable() -> None:
        raise OSError("the database went away")

    hemicycle.core.store.ping = unreachable  # type: ignore[method-assign]
    status, body = await request(hemicycle, "GET", "/api/health")
    assert status == 200 and body["status"] == "degraded" and body["degraded"] == ["database"]
    status, body = await request(hemicycle, "GET", "/api/ready")
    assert status == 503 and body["degraded"] == ["database"]


async def test_registration_in_six_languages(hemicycle: Running) -> None:
    names = ["محمد بن علي", "王小明", "Amina Diallo", "Élodie Fournier", "Наталья Иванова", "José Núñez"]
    for name in names:
        status, body = await request(
            hemicycle,
            "POST",
            f"/api/events/{hemicycle.event_id}/participants",
            json={
                **REGISTRATION,
                "display_name": f"  {name} ",
                "consent_demographics": True,
                "gender": "woman",
                "age_band": "under_25",
            },
        )
        assert status == 201, body
        assert body["participant"]["display_name"] == name
        assert "gender" not in body["participant"]
        status, me = await request(hemicycle, "GET", "/api/me", token=body["token"])
        assert status == 200 and me["me"]["display_name"] == name and me["me"]["role"] == "attendee"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "x" * 121}, "display_name"),
        ({"display_name": "Eve\u202egnp.exe"}, "display_name"),
        ({"display_name": "Null\x00byte"}, "display_name"),
        # Names that show as nobody, and zero-width characters that make two names look alike.
        ({"display_name": "\u3164"}, "display_name"),
        ({"display_name": "\u2800\u2800"}, "display_name"),
        ({"display_name": "\u115f\u1160\uffa0"}, "display_name"),
        ({"display_name": "Am\u200bina"}, "display_name"),
        ({"display_name": "Amina\ufeff"}, "display_name"),
        ({"display_name": "Amina\u2060Diallo"}, "display_name"),
        ({"display_name": "\u200dAmina"}, "display_name"),
        ({"affiliation": "\u3164"}, "affiliation"),
        ({"affiliation": "IT\u200eU"}, "affiliation"),
        ({"affiliation": "ITU\u2066"}, "affiliation"),
        ({"display_name": 42}, "display_name"),
        ({"affiliation": "a" * 201}, "affiliation"),
        ({"stakeholder_group": "media"}, "stakeholder_group"),
        ({"country": "XX"}, "country"),
        ({"country": "Switzerland"}, "country"),
        ({"gender": "woman"}, "consent_demographics"),
        ({"consent_demographics": "yes"}, "consent_demographics"),
        ({"consent_demographics": True, "age_band": "young"}, "age_band"),
        ({"role": "admin"}, "role"),
    ],
)
async def test_registration_rejects_bad_fields(
    hemicycle: Running, change: dict[str, Any], field: str
) -> None:
    before = await count_participants(hemicycle)
    status, body = await request(
        hemicycle, "POST", f"/api/events/{hemicycle.event_id}/participants", json={**REGISTRATION, **change}
    )
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["details"]["field"] == field
    assert await count_participants(hemicycle) == before


async def test_names_with_joiners_are_welcome(hemicycle: Running) -> None:
    """Persian and Indic names need zero-width joiners between letters: they are kept as typed."""
    for name in ("مهدی\u200cزاده", "کتاب\u200cخانه", "क्\u200dष", "رضا\u200dی"):
        status, body = await request(
            hemicycle,
            "POST",
            f"/api/events/{hemicycle.event_id}/participants",
            json={**REGISTRATION, "display_name": name, "affiliation": f"دانشگاه {name}"},
        )
        assert status == 201, body
        assert body["participant"]["display_name"] == name


async def test_malformed_oversized_and_unknown(hemicycle: Running) -> None:
    path = f"/api/events/{hemicycle.event_id}/participants"
    before = await count_participants(hemicycle)
    for data in (b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'):
        status, body = await request(
            hemicycle, "POST", path, data=data, headers={"Content-Type": "application/json"}
        )
        assert (status, body["error"]["code"]) == (400, "malformed_json"), data
    status, body = await request(
        hemicycle,
        "POST",
        path,
        data=b"{" + b" " * 70_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    status, body = await request(hemicycle, "POST", "/api/events/999/participants", json=REGISTRATION)
    assert (status, body["error"]["code"]) == (404, "unknown_event")
    status, body = await request(hemicycle, "POST", "/api/events/abc/participants", json=REGISTRATION)
    assert (status, body["error"]["code"]) == (404, "unknown_event")
    status, body = await request(hemicycle, "GET", "/api/sessions/424242")
    assert (status, body["error"]["code"]) == (404, "unknown_session")
    status, body = await request(hemicycle, "GET", "/api/nowhere")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await request(hemicycle, "DELETE", "/api/events")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert await count_participants(hemicycle) == before


async def test_tokens_on_http(hemicycle: Running) -> None:
    assert (await request(hemicycle, "GET", "/api/me"))[1]["error"]["code"] == "token_missing"
    status, body = await request(hemicycle, "GET", "/api/me", headers={"Authorization": "Basic abc"})
    assert (status, body["error"]["code"]) == (401, "token_missing")
    status, body = await request(hemicycle, "GET", "/api/me", token="abc.def.ghi")
    assert (status, body["error"]["code"]) == (401, "token_invalid")
    good = await hemicycle.staff_token(Role.MODERATOR)
    header, payload, signature = good.split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, body = await request(hemicycle, "GET", "/api/me", token=f"{header}.{tampered}.{signature}")
    assert (status, body["error"]["code"]) == (401, "token_invalid")


async def test_state_change_over_http_respects_roles(hemicycle: Running) -> None:
    path = f"/api/sessions/{hemicycle.scheduled_session}/state"
    attendee = (await hemicycle.register())["token"]
    display = await hemicycle.staff_token(Role.DISPLAY, hemicycle.scheduled_session)
    wrong_session = await hemicycle.staff_token(Role.MODERATOR, hemicycle.live_session)
    for token, code in (
        (attendee, "forbidden"),
        (display, "forbidden"),
        (wrong_session, "wrong_session"),
        (None, "token_missing"),
    ):
        status, body = await request(hemicycle, "POST", path, token=token, json={"state": "live"})
        assert status in (401, 403) and body["error"]["code"] == code
    moderator = await hemicycle.staff_token(Role.MODERATOR, hemicycle.scheduled_session)
    status, body = await request(hemicycle, "POST", path, token=moderator, json={"state": "paused"})
    assert (status, body["error"]["code"]) == (422, "invalid_input")
    status, body = await request(hemicycle, "POST", path, token=moderator, json={"state": "live", "x": 1})
    assert (status, body["error"]["code"]) == (422, "invalid_input")
    assert (await hemicycle.core.store.get_session(hemicycle.scheduled_session)).state.value == "scheduled"
    status, body = await request(hemicycle, "POST", path, token=moderator, json={"state": "live"})
    assert status == 200 and body["session"]["state"] == "live"
    status, body = await request(hemicycle, "POST", path, token=moderator, json={"state": "live"})
    assert (status, body["error"]["code"]) == (409, "no_change")
    status, body = await request(
        hemicycle, "GET", f"/api/sessions/{hemicycle.scheduled_session}/audit", token=moderator
    )
    assert status == 200 and body["entries"][0]["action"] == "session.set_state"
    assert body["entries"][0]["actor"]["role"] == "moderator"


async def test_staff_routes_refuse_lesser_roles(hemicycle: Running) -> None:
    session = hemicycle.live_session
    attendee = (await hemicycle.register())["token"]
    display = await hemicycle.staff_token(Role.DISPLAY)
    chair = await hemicycle.staff_token(Role.CHAIR)
    moderator = await hemicycle.staff_token(Role.MODERATOR)
    admin = await hemicycle.staff_token(Role.ADMIN)
    status, body = await request(hemicycle, "GET", f"/api/events/{hemicycle.event_id}/sessions", token=admin)
    assert status == 200 and len(body["sessions"]) == 4
    for token in (attendee, display, chair, moderator):
        status, body = await request(
            hemicycle, "GET", f"/api/events/{hemicycle.event_id}/sessions", token=token
        )
        assert (status, body["error"]["code"]) == (403, "forbidden")
    matrix = [
        ("GET", f"/api/sessions/{session}/presence", [attendee, display], [chair, moderator, admin]),
        ("GET", f"/api/sessions/{session}/audit", [attendee, display, chair], [moderator, admin]),
        ("POST", f"/api/sessions/{session}/links", [attendee, display, chair, moderator], [admin]),
    ]
    for method, path, refused, allowed in matrix:
        for token in refused:
            status, body = await request(hemicycle, method, path, token=token)
            assert (status, body["error"]["code"]) == (403, "forbidden"), (path, body)
        status, body = await request(hemicycle, method, path)
        assert status == 401
        for token in allowed:
            status, body = await request(hemicycle, method, path, token=token)
            assert status == 200, (path, body)


async def test_admin_issues_links_that_open_pages(hemicycle: Running) -> None:
    admin = await hemicycle.staff_token(Role.ADMIN)
    status, body = await request(
        hemicycle, "POST", f"/api/sessions/{hemicycle.live_session}/links", token=admin
    )
    assert status == 200
    links = body["links"]
    assert set(links) == {"moderator", "chair", "av", "captioner", "interpreter", "display", "attendee"}
    token = links["moderator"].split("#token=")[1]
    status, me = await request(hemicycle, "GET", "/api/me", token=token)
    assert me["me"]["role"] == "moderator" and me["me"]["session_id"] == hemicycle.live_session
    # Issuing again keeps the same holder.
    status, again = await request(
        hemicycle, "POST", f"/api/sessions/{hemicycle.live_session}/links", token=admin
    )
    token2 = again["links"]["moderator"].split("#token=")[1]
    status, me2 = await request(hemicycle, "GET", "/api/me", token=token2)
    assert me2["me"]["id"] == me["me"]["id"]


async def test_pages_are_served(hemicycle: Running) -> None:
    s = hemicycle.live_session
    for path in (
        "/",
        f"/s/{s}",
        f"/s/{s}/moderator",
        f"/s/{s}/chair",
        f"/s/{s}/av",
        f"/s/{s}/display",
        f"/s/{s}/captioner",
        f"/s/{s}/interpreter",
        f"/e/{hemicycle.event_id}/admin",
    ):
        status, text = await request(hemicycle, "GET", path)
        assert status == 200, path
        assert "<html" in text.lower()
    assert (await request(hemicycle, "GET", f"/s/{s}/nope"))[0] == 404
    assert (await request(hemicycle, "GET", "/s/abc/moderator"))[0] == 404
    assert (await request(hemicycle, "GET", "/static/vendor/socket.io/socket.io.esm.min.js"))[0] == 200
    assert (await request(hemicycle, "GET", "/static/../pyproject.toml"))[0] in (403, 404)
