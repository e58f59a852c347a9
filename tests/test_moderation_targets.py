"""Who may be acted on: every action that names a person, on a holder of each role, in this session and in
another session of the event, by a moderator and by the administrator.

A moderator acts on attendees only; anyone holding a staff link anywhere in the event is the administrator's
to act on, and no session loses its last moderator. A refusal changes nothing: the target's link still
connects. Over real sockets, on the server the pages use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.domain.roles import SESSION_ROLES, Role

from .conftest import make_settings, run_app
from .helpers import Client, Running
from .test_moderation_matrix import snapshot

HERE, ELSEWHERE = "here", "elsewhere"
# In this order, on one target: each step starts from the state the previous ones left.
ACTIONS = ("mute", "remove", "ban", "unban", "admit")
OK = "ok"
TARGETS = [
    (Role.ATTENDEE, HERE),
    (Role.ATTENDEE, ELSEWHERE),
    *((role, where) for role in SESSION_ROLES for where in (HERE, ELSEWHERE)),
    (Role.ADMIN, HERE),  # the administrator's link covers every session
]


def expected(actor: Role, role: Role, where: str) -> dict[str, str]:
    """What each action gets: "ok" or the error code."""
    if role is Role.ATTENDEE:
        return dict.fromkeys(ACTIONS, OK)
    if actor is Role.MODERATOR:
        # The acting moderator is the holder of this session's moderator link.
        refusal = "self_target" if (role, where) == (Role.MODERATOR, HERE) else "staff_target"
        return dict.fromkeys(ACTIONS, refusal)
    if role is Role.ADMIN:
        return dict.fromkeys(ACTIONS, "self_target")
    if role is Role.MODERATOR:
        # This session's only moderator may not be cut off here; another session's loses its link by a ban.
        cut_off = "last_moderator" if where == HERE else OK
        return {
            "mute": cut_off,
            "remove": cut_off,
            "ban": "last_moderator",
            "unban": "not_banned",
            "admit": "already_admitted" if where == HERE else "not_waiting",
        }
    # Staff never wait: there is nobody to admit once they were removed here.
    return {"mute": OK, "remove": OK, "ban": OK, "unban": OK, "admit": "not_waiting"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, waiting_room="public")):
        yield running


async def durable(running: Running) -> dict[str, list[tuple[Any, ...]]]:
    """Every durable row but the attendance log, which records this test's own connections as they end."""
    tables = await snapshot(running)
    del tables["attendance"]
    return tables


async def connects(running: Running, token: str, session_id: int) -> None:
    """The link is accepted: a new connection gets its welcome."""
    client = await running.join(token, session_id)
    await client.close()


async def refused(running: Running, token: str, session_id: int) -> None:
    """The link is withdrawn: a new connection is refused."""
    refusal = await running.client().try_connect({"token": token, "session_id": session_id})
    assert refusal["data"]["code"] == "token_revoked", refusal


async def waits(running: Running, token: str, moderator: Client, participant_id: int) -> int:
    """Connect an attendee to the session, where they wait; the version a moderator decides on."""
    client = running.client()
    await client.connect(token, running.live_session)
    await client.wait_for("waiting")
    state = (await moderator.call("moderation:get"))["data"]["moderation"]
    return next(int(p["version"]) for p in state["waiting"] if p["id"] == participant_id)


async def target(running: Running, moderator: Client, role: Role, where: str) -> tuple[str, int, int]:
    """A connected holder of this role: (token, participant id, the session their link opens)."""
    session_id = running.live_session if where == HERE else running.scheduled_session
    if role is Role.ATTENDEE:
        registered = await running.register(display_name=f"Attendee {where}")
        token, participant_id = registered["token"], registered["participant"]["id"]
        client = running.client()
        await client.connect(token, session_id)
        await client.wait_for("waiting")
        if where == HERE:
            state = (await moderator.call("moderation:get"))["data"]["moderation"]
            version = next(p["version"] for p in state["waiting"] if p["id"] == participant_id)
            admitted = await moderator.call(
                "participant:admit", {"participant_id": participant_id, "version": version}
            )
            assert admitted["ok"], admitted
            await client.wait_for("welcome")
        return token, participant_id, session_id
    token = await running.staff_token(role, session_id)
    client = await running.join(token, session_id)
    return token, client.last("welcome")["me"]["id"], session_id


@pytest.mark.parametrize(("role", "where"), TARGETS, ids=[f"{r.value}-{w}" for r, w in TARGETS])
async def test_who_may_act_on_whom(world: Running, role: Role, where: str) -> None:
    moderator_token = await world.staff_token(Role.MODERATOR)
    moderator = await world.join(moderator_token)
    admin = await world.join(await world.staff_token(Role.ADMIN))
    actors = {Role.MODERATOR: moderator, Role.ADMIN: admin}

    for actor_role, actor in actors.items():
        # Attendees are acted on for good: each actor gets one of their own.
        token, participant_id, home = await target(world, moderator, role, where)
        outcomes = expected(actor_role, role, where)
        for action in ACTIONS:
            payload: dict[str, Any] = {"participant_id": participant_id}
            if action in ("remove", "ban", "mute"):
                payload["reason"] = "matrix"
            if action == "mute":
                payload["audio"] = True
            if action == "admit":
                payload["version"] = 1
                if outcomes[action] == OK:
                    payload["version"] = await waits(world, token, moderator, participant_id)
            before = await durable(world)
            reply = await actor.call(f"participant:{action}", payload)
            outcome = OK if reply["ok"] else reply["error"]["code"]
            assert outcome == outcomes[action], (actor_role.value, action, reply)
            if outcome != OK:
                assert await durable(world) == before, f"a refused {action} changed something"
                await connects(world, token, home)
                continue
            if action == "ban":
                await refused(world, token, home)
                if role is not Role.ATTENDEE:
                    # Only the administrator gives a staff link back.
                    before = await durable(world)
                    reply = await moderator.call("participant:unban", {"participant_id": participant_id})
                    assert reply["error"]["code"] == "staff_target", reply
                    assert await durable(world) == before
                    await refused(world, token, home)
            if action == "unban" and role is not Role.ATTENDEE:
                await connects(world, token, home)
    assert moderator.sio.connected and admin.sio.connected
    await connects(world, moderator_token, world.live_session)
