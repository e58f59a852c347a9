"""Moderation across two server processes (one PostgreSQL, one Redis): a decision taken through one process
reaches connections held by the other."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.service import Hemicycle

from .helpers import Client, eventually
from .test_multiprocess import two_servers

__all__ = ["two_servers"]  # the fixture, shared with tests/test_multiprocess.py

HAND = {"type": "statement", "language": "en"}


async def _token(core: Hemicycle, role: Role, session_id: int) -> str:
    session = await core.store.get_session(session_id)
    person, grant = await core.store.staff_grant(session.event_id, session_id, role)
    token, _ = core.tokens.issue(
        grant_id=grant,
        participant_id=person.id,
        role=role,
        event_id=session.event_id,
        session_id=session_id,
        ttl=timedelta(hours=1),
    )
    return token


async def _register(url: str, event_id: int, name: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/events/{event_id}/participants",
            json={
                "display_name": name,
                "affiliation": "University of Ghana",
                "stakeholder_group": "academic_technical",
                "country": "GH",
                "browser_id": f"browser-{name.replace(' ', '-')}",
            },
        ) as response,
    ):
        assert response.status == 201, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def test_waiting_room_remove_and_ban_reach_the_other_process(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    clients: list[Client] = []

    def client(url: str) -> Client:
        made = Client(url)
        clients.append(made)
        return made

    try:
        moderator = client(url_a)
        await moderator.connect(await _token(core, Role.MODERATOR, session.id), session.id)
        await moderator.wait_for("moderation")
        turned_on = await moderator.call("moderation:settings", {"waiting_room": True})
        assert turned_on["ok"], turned_on

        # Waits on B; the moderator on A sees it and admits; B joins the connection in place.
        kofi = await _register(url_b, event.id, "Kofi Mensah")
        kofi_id = kofi["participant"]["id"]
        on_b = client(url_b)
        await on_b.connect(kofi["token"], session.id)
        await on_b.wait_for("waiting")
        state = await moderator.wait_for(
            "moderation", lambda s: any(p["id"] == kofi_id for p in s["waiting"])
        )
        version = next(p["version"] for p in state["waiting"] if p["id"] == kofi_id)
        admitted = await moderator.call("participant:admit", {"participant_id": kofi_id, "version": version})
        assert admitted["ok"], admitted
        await on_b.wait_for("moderation:admitted")
        await on_b.wait_for("welcome", timeout=10)
        assert (await on_b.call("hand:raise", HAND))["ok"]
        await moderator.wait_for("queue", lambda q: [e["participant_id"] for e in q["queue"]] == [kofi_id])

        # Removed through A: the connection held by B is told, then closed; the hand leaves the queue.
        removed = await moderator.call(
            "participant:remove", {"participant_id": kofi_id, "reason": "off topic"}
        )
        assert removed["ok"], removed
        notice = await on_b.wait_for("moderation:removed")
        assert notice["reason"] == "off topic"
        await eventually(lambda: not on_b.sio.connected, timeout=10)
        await moderator.wait_for("queue", lambda q: q["queue"] == [])

        # Banned through A: both their connections on B close and the token is refused by both processes.
        ama = await _register(url_a, event.id, "Ama Owusu")
        ama_id = ama["participant"]["id"]
        assert (await moderator.call("moderation:settings", {"waiting_room": False}))["ok"]
        tabs = [client(url_b), client(url_b)]
        for tab in tabs:
            await tab.connect(ama["token"], session.id)
            await tab.wait_for("welcome")
        banned = await moderator.call("participant:ban", {"participant_id": ama_id, "reason": "abuse"})
        assert banned["ok"], banned
        await eventually(lambda: not any(tab.sio.connected for tab in tabs), timeout=10)
        for url in (url_a, url_b):
            refusal = await client(url).try_connect({"token": ama["token"], "session_id": session.id})
            assert refusal["data"]["code"] == "token_revoked"
    finally:
        for made in clients:
            await made.close()
