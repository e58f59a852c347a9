"""Moderating participants over real sockets: waiting room, remove, ban, unban, mute, continuity, audit."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain.roles import Role
from server.keys import HUB_KEY

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually

HAND = {"type": "statement", "language": "en"}


@pytest.fixture
async def moderated(tmp_path: Path) -> AsyncIterator[Running]:
    """A server whose public sessions have a waiting room (the production default)."""
    async for running in run_app(make_settings(tmp_path, waiting_room="public")):
        yield running


async def waiting_attendee(
    running: Running, name: str = "Amina Diallo", **fields: Any
) -> tuple[Client, dict[str, Any]]:
    registered = await running.register(display_name=name, **fields)
    client = running.client()
    await client.connect(registered["token"], running.live_session)
    await client.wait_for("waiting")
    return client, registered


async def staff(running: Running, role: Role = Role.MODERATOR) -> Client:
    client = await running.join(await running.staff_token(role))
    if role in (Role.MODERATOR, Role.ADMIN):
        await client.wait_for("moderation")
    return client


def waiting_names(state: dict[str, Any]) -> list[str]:
    return [p["display_name"] for p in state["waiting"]]


def entry_of(state: dict[str, Any], participant_id: int) -> dict[str, Any]:
    return next(p for p in state["waiting"] + state["removed"] if p["id"] == participant_id)


async def get_json(running: Running, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}{path}", headers=headers) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_waiting_room_admit_then_reconnect_goes_straight_in(moderated: Running) -> None:
    moderator = await staff(moderated)
    assert moderator.last("moderation")["waiting_room"] is True
    amina, registered = await waiting_attendee(moderated)
    participant_id = registered["participant"]["id"]

    waiting = amina.last("waiting")
    assert "waiting room" in waiting["message"]
    assert waiting["session"]["id"] == moderated.live_session
    assert not amina.received("welcome"), "a waiting attendee sees nothing of the session"
    for event, payload in (("hand:raise", HAND), ("question:post", {"text": "Hello?"}), ("queue:get", {})):
        refused = await amina.call(event, payload)
        assert refused["error"]["code"] == "waiting", event
    state = await moderator.wait_for("moderation", lambda s: waiting_names(s) == ["Amina Diallo"])
    assert state["waiting"][0]["flags"] == {}
    presence = await moderated.core.presence(moderated.live_session)
    assert [p.role.value for p in presence.people] == ["moderator"], "waiting people are not in the roster"

    admitted = await moderator.call(
        "participant:admit", {"participant_id": participant_id, "version": state["waiting"][0]["version"]}
    )
    assert admitted["ok"], admitted
    assert admitted["data"]["participant"]["state"] == "admitted"
    await amina.wait_for("moderation:admitted")
    welcome = await amina.wait_for("welcome")
    assert welcome["me"]["id"] == participant_id
    assert (await amina.call("hand:raise", HAND))["ok"]
    await moderator.wait_for("moderation", lambda s: s["waiting"] == [])
    await moderator.wait_for(
        "presence:people", lambda d: any(p["display_name"] == "Amina Diallo" for p in d["people"])
    )

    # Admitted people who reconnect go straight in.
    await amina.close()
    again = moderated.client()
    await again.connect(registered["token"], moderated.live_session)
    await again.wait_for("welcome")
    assert not again.received("waiting")
    audit = [e["action"] for e in await moderated.core.store.audit_log(moderated.live_session)]
    assert "participant.admit" in audit


async def test_waiting_person_who_leaves_is_marked_and_comes_back(moderated: Running) -> None:
    moderator = await staff(moderated)
    amina, registered = await waiting_attendee(moderated)
    await moderator.wait_for("moderation", lambda s: [p["state"] for p in s["waiting"]] == ["waiting"])
    await amina.close()
    await moderator.wait_for("moderation", lambda s: [p["state"] for p in s["waiting"]] == ["left"])
    back = moderated.client()
    await back.connect(registered["token"], moderated.live_session)
    await back.wait_for("waiting")
    await moderator.wait_for("moderation", lambda s: [p["state"] for p in s["waiting"]] == ["waiting"])


async def test_admit_all_and_always_admit_rules(moderated: Running) -> None:
    moderator = await staff(moderated)
    a, _ = await waiting_attendee(moderated, "A", stakeholder_group="civil_society")
    b, _ = await waiting_attendee(moderated, "B", affiliation="University of Ghana")
    await moderator.wait_for("moderation", lambda s: sorted(waiting_names(s)) == ["A", "B"])

    # A rule admits those waiting whom it covers, and lets the next ones straight in.
    ruled = await moderator.call(
        "moderation:settings", {"rules": {"stakeholder_groups": ["civil_society"], "affiliations": []}}
    )
    assert ruled["ok"], ruled
    assert len(ruled["data"]["admitted"]) == 1
    await a.wait_for("welcome")
    c = moderated.client()
    registered = await moderated.register(display_name="C", stakeholder_group="civil_society")
    await c.connect(registered["token"], moderated.live_session)
    await c.wait_for("welcome")
    d = moderated.client()
    registered = await moderated.register(display_name="D", affiliation="UNIVERSITY  of ghana")
    await d.connect(registered["token"], moderated.live_session)
    await d.wait_for("waiting")
    assert (
        await moderator.call(
            "moderation:settings",
            {"rules": {"stakeholder_groups": ["civil_society"], "affiliations": ["University of Ghana"]}},
        )
    )["ok"]
    await b.wait_for("welcome")
    await d.wait_for("welcome")
    state = await moderator.wait_for(
        "moderation", lambda s: s["waiting"] == [] and s["rules"]["affiliations"] != []
    )
    assert state["rules"] == {
        "stakeholder_groups": ["civil_society"],
        "affiliations": ["university of ghana"],
    }
    audit = await moderated.core.store.audit_log(moderated.live_session)
    assert any(e["action"] == "participant.admit" and e["details"].get("rule") for e in audit)

    e, _ = await waiting_attendee(moderated, "E", stakeholder_group="private_sector")
    f, _ = await waiting_attendee(moderated, "F", stakeholder_group="private_sector")
    await moderator.wait_for("moderation", lambda s: sorted(waiting_names(s)) == ["E", "F"])
    everyone = await moderator.call("participant:admit_all", {})
    assert everyone["ok"] and len(everyone["data"]["admitted"]) == 2
    await e.wait_for("welcome")
    await f.wait_for("welcome")
    nobody = await moderator.call("participant:admit_all", {})
    assert nobody["error"]["code"] == "no_change"

    # Turning the waiting room off admits whoever waits; on again, those present stay in.
    g, _ = await waiting_attendee(moderated, "G", stakeholder_group="private_sector")
    assert (await moderator.call("moderation:settings", {"waiting_room": False}))["ok"]
    await g.wait_for("welcome")
    assert (await moderator.call("moderation:settings", {"waiting_room": True}))["ok"]
    state = await moderator.wait_for("moderation", lambda s: s["waiting_room_setting"] is True)
    assert state["waiting"] == []

    bad = await moderator.call("moderation:settings", {"rules": {"stakeholder_groups": ["aliens"]}})
    assert bad["error"]["code"] == "invalid_input"


async def test_two_moderators_see_the_same_state_and_stale_actions_are_refused(moderated: Running) -> None:
    moderator = await staff(moderated)
    admin = await staff(moderated, Role.ADMIN)
    amina, registered = await waiting_attendee(moderated)
    participant_id = registered["participant"]["id"]
    seen_by_moderator = await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    seen_by_admin = await admin.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    assert seen_by_admin["waiting"] == seen_by_moderator["waiting"]
    old_version = seen_by_admin["waiting"][0]["version"]

    removed = await moderator.call(
        "participant:remove", {"participant_id": participant_id, "reason": "spam", "version": old_version}
    )
    assert removed["ok"], removed
    stale = await admin.call("participant:admit", {"participant_id": participant_id, "version": old_version})
    assert stale["error"]["code"] == "not_waiting"
    again = await admin.call("participant:remove", {"participant_id": participant_id, "reason": "spam"})
    assert again["error"]["code"] == "already_removed"
    await amina.wait_for("moderation:removed")

    # Back in the waiting room; a decision taken on the old view is refused.
    back = moderated.client()
    await back.connect(registered["token"], moderated.live_session)
    await back.wait_for("waiting")
    state = await admin.wait_for(
        "moderation", lambda s: len(s["waiting"]) == 1 and s["waiting"][0]["version"] > old_version
    )
    assert state["waiting"][0]["flags"] == {"removed_before": True}
    stale = await admin.call("participant:admit", {"participant_id": participant_id, "version": old_version})
    assert stale["error"]["code"] == "stale_participant"
    fresh = state["waiting"][0]["version"]
    assert (await admin.call("participant:admit", {"participant_id": participant_id, "version": fresh}))["ok"]
    twice = await moderator.call("participant:admit", {"participant_id": participant_id, "version": fresh})
    assert twice["error"]["code"] == "already_admitted"
    await back.wait_for("welcome")
    await moderator.wait_for("moderation", lambda s: s["waiting"] == [] and s["removed"] == [])


async def test_remove_disconnects_lowers_the_hand_and_keeps_questions(hemicycle: Running) -> None:
    moderator = await staff(hemicycle)
    registered = await hemicycle.register(display_name="Disruptive Dan")
    participant_id = registered["participant"]["id"]
    dan = await hemicycle.join(registered["token"])
    second_tab = await hemicycle.join(registered["token"])
    assert (await dan.call("hand:raise", HAND))["ok"]
    posted = await dan.call("question:post", {"text": "Why is the sky blue?"})
    assert posted["ok"]
    await moderator.wait_for("queue", lambda q: len(q["queue"]) == 1)

    removed = await moderator.call(
        "participant:remove", {"participant_id": participant_id, "reason": "shouting", "version": 0}
    )
    assert removed["ok"], removed
    notice = await dan.wait_for("moderation:removed")
    assert (
        notice["reason"] == "shouting" and notice["banned"] is False and notice["by"]["role"] == "moderator"
    )
    await eventually(lambda: not dan.sio.connected and not second_tab.sio.connected)
    queue = await moderator.wait_for("queue", lambda q: q["queue"] == [])
    assert queue["queue"] == []
    questions = await hemicycle.core.store.audit_log(hemicycle.live_session)
    assert any(e["action"] == "queue.remove" for e in questions)
    desk = hemicycle.server.app[HUB_KEY].desk
    kept = (await desk.state(hemicycle.live_session)).questions
    assert [q.text for q in kept] == ["Why is the sky blue?"], "their questions stay for the record"
    state = await moderator.wait_for("moderation", lambda s: len(s["removed"]) == 1)
    assert state["removed"][0]["reason"] == "shouting"
    assert [e["action"] for e in state["audit"]] == ["queue.remove", "participant.remove"]
    assert state["audit"][1]["whom"] == {"id": participant_id, "name": "Disruptive Dan"}
    assert state["audit"][1]["reason"] == "shouting" and state["audit"][1]["actor"]["role"] == "moderator"

    # Even with the waiting room off, a removed person comes back only through it.
    back = hemicycle.client()
    await back.connect(registered["token"], hemicycle.live_session)
    await back.wait_for("waiting")
    assert (await back.call("hand:raise", HAND))["error"]["code"] == "waiting"


async def test_ban_holds_after_rejoin_and_flags_the_same_browser(moderated: Running) -> None:
    moderator = await staff(moderated)
    troll, registered = await waiting_attendee(moderated, "Troll", browser_id="browser-abc")
    token = registered["token"]
    participant_id = registered["participant"]["id"]
    state = await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    assert (
        await moderator.call(
            "participant:admit", {"participant_id": participant_id, "version": state["waiting"][0]["version"]}
        )
    )["ok"]
    await troll.wait_for("welcome")

    banned = await moderator.call("participant:ban", {"participant_id": participant_id, "reason": "abuse"})
    assert banned["ok"], banned
    assert banned["data"]["ban"]["participant"]["id"] == participant_id
    notice = await troll.wait_for("moderation:removed")
    assert notice["banned"] is True
    await eventually(lambda: not troll.sio.connected)
    twice = await moderator.call("participant:ban", {"participant_id": participant_id, "reason": "abuse"})
    assert twice["error"]["code"] == "already_banned"

    # The token is refused for the whole event: on connect, to another session, and over HTTP.
    for session_id in (moderated.live_session, moderated.scheduled_session):
        refused = await moderated.client().try_connect({"token": token, "session_id": session_id})
        assert refused["data"]["code"] == "token_revoked"
    status, body = await get_json(moderated, "/api/me", token)
    assert status == 401 and body["error"]["code"] == "token_revoked"

    # A new registration from the same browser waits, flagged; "admit all" leaves it to a moderator.
    again, second = await waiting_attendee(moderated, "Not A Troll", browser_id="browser-abc")
    state = await moderator.wait_for("moderation", lambda s: waiting_names(s) == ["Not A Troll"])
    flag = state["waiting"][0]["flags"]["possibly_banned"]
    assert flag["match"] == "browser" and flag["ban_id"] == banned["data"]["ban"]["id"]
    assert "possibly_banned" not in str(again.last("waiting")), "the flag is for moderators only"
    assert (await moderator.call("participant:admit_all", {}))["error"]["code"] == "no_change"
    assert (await moderator.call("participant:admit_all", {"include_flagged": True}))["ok"]
    await again.wait_for("welcome")
    assert second["participant"]["id"] != participant_id

    # Unbanned, the old token works again, through the waiting room.
    lifted = await moderator.call(
        "participant:unban", {"participant_id": participant_id, "reason": "apologised"}
    )
    assert lifted["ok"], lifted
    assert (await moderator.call("participant:unban", {"participant_id": participant_id}))["error"][
        "code"
    ] == "not_banned"
    back = moderated.client()
    await back.connect(token, moderated.live_session)
    await back.wait_for("waiting")
    state = await moderator.wait_for(
        "moderation",
        lambda s: (
            waiting_names(s) == ["Troll"] and any(e["action"] == "participant.unban" for e in s["audit"])
        ),
    )
    assert state["bans"] == []
    actions = [e["action"] for e in state["audit"]]
    for action in ("participant.ban", "participant.unban", "participant.admit_all"):
        assert action in actions


@pytest.mark.parametrize("event", ["participant:remove", "participant:ban"])
async def test_a_waiting_person_is_told_before_the_waiting_room_closes_on_them(
    moderated: Running, event: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiting room's watch may read the stored decision before its notice is sent: it must not close
    the connection before the notice has reached it (the page would never say why it was closed)."""
    moderator = await staff(moderated)
    troll, registered = await waiting_attendee(moderated, "Troll")
    participant_id = registered["participant"]["id"]
    sid = troll.sio.get_sid()
    await moderator.wait_for("moderation", lambda s: waiting_names(s) == ["Troll"])
    events = moderated.server.app[HUB_KEY].moderation
    notify = events.removed

    async def watch_wakes_first(participant: int, sessions: set[int], payload: dict[str, Any]) -> None:
        # What the watch loop does when it wakes between the decision's commit and its notice.
        await events.reconcile()
        await notify(participant, sessions, payload)

    monkeypatch.setattr(events, "removed", watch_wakes_first)
    decided = await moderator.call(event, {"participant_id": participant_id, "reason": "spam"})
    assert decided["ok"], decided
    notice = await troll.wait_for("moderation:removed")
    assert notice["session_id"] == moderated.live_session
    assert notice["reason"] == "spam" and notice["banned"] is (event == "participant:ban")
    await eventually(lambda: not troll.sio.connected)
    assert not events.is_waiting(sid), "closed, and no longer held as waiting"


async def test_a_banned_token_cannot_write_even_on_a_connection_opened_before(hemicycle: Running) -> None:
    """Enforcement does not rely on the disconnect arriving: every write checks the grant as it is now."""
    moderator = await staff(hemicycle)
    author = await hemicycle.join((await hemicycle.register(display_name="Author"))["token"])
    posted = await author.call("question:post", {"text": "A question to vote for"})
    question_id = posted["data"]["question"]["id"]
    approved = await moderator.call("question:moderate", {"question_id": question_id, "action": "approve"})
    assert approved["ok"]
    registered = await hemicycle.register(display_name="Banned Bea")
    writes = (
        ("hand:raise", HAND),
        ("question:post", {"text": "Still here"}),
        ("question:vote", {"question_id": question_id}),
    )
    # One tab per write: a refused write closes the connection it came on.
    tabs = [await hemicycle.join(registered["token"]) for _ in writes]
    moderator_principal = (await hemicycle.core.authenticate(await hemicycle.staff_token(Role.MODERATOR)))[0]
    # The store alone: stored, but no notice and no disconnect sent.
    store = hemicycle.server.app[HUB_KEY].moderation.actions.store
    await store.ban(moderator_principal, hemicycle.live_session, registered["participant"]["id"], "abuse")
    for tab, (event, payload) in zip(tabs, writes, strict=True):
        reply = await tab.call(event, payload)
        assert reply["error"]["code"] == "token_revoked", event
    await eventually(lambda: not any(tab.sio.connected for tab in tabs))
    refused = await hemicycle.client().try_connect(
        {"token": registered["token"], "session_id": hemicycle.live_session}
    )
    assert refused["data"]["code"] == "token_revoked"
    queue = await hemicycle.server.app[HUB_KEY].floor.state(hemicycle.live_session)
    assert queue.queued == []
    questions = (await hemicycle.server.app[HUB_KEY].desk.state(hemicycle.live_session)).questions
    assert [(q.text, q.votes) for q in questions] == [("A question to vote for", 0)]


async def test_bad_input_is_refused_and_changes_nothing(moderated: Running) -> None:
    moderator = await staff(moderated)
    admin = await staff(moderated, Role.ADMIN)
    chair = await moderated.join(await moderated.staff_token(Role.CHAIR))
    amina, registered = await waiting_attendee(moderated)
    participant_id = registered["participant"]["id"]
    await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    me = moderator.last("welcome")["me"]["id"]
    chair_id = chair.last("welcome")["me"]["id"]
    admin_id = admin.last("welcome")["me"]["id"]
    before = await moderated.core.store.audit_log(moderated.live_session)

    cases: list[tuple[Client, str, dict[str, Any], str]] = [
        (moderator, "participant:remove", {"participant_id": 999999, "reason": "x"}, "unknown_participant"),
        (moderator, "participant:ban", {"participant_id": 999999, "reason": "x"}, "unknown_participant"),
        (moderator, "participant:admit", {"participant_id": 999999, "version": 1}, "unknown_participant"),
        (moderator, "participant:ban", {"participant_id": me, "reason": "x"}, "self_target"),
        (moderator, "participant:remove", {"participant_id": me, "reason": "x"}, "self_target"),
        (admin, "participant:ban", {"participant_id": me, "reason": "x"}, "last_moderator"),
        (admin, "participant:ban", {"participant_id": admin_id, "reason": "x"}, "self_target"),
        (moderator, "participant:ban", {"participant_id": chair_id, "reason": "x"}, "staff_target"),
        (moderator, "participant:ban", {"participant_id": admin_id, "reason": "x"}, "staff_target"),
        (moderator, "participant:ban", {"participant_id": participant_id, "reason": ""}, "invalid_input"),
        (moderator, "participant:ban", {"participant_id": participant_id}, "invalid_input"),
        (moderator, "participant:ban", {"participant_id": "1", "reason": "x"}, "invalid_input"),
        (
            moderator,
            "participant:remove",
            {"participant_id": participant_id, "reason": "x" * 401},
            "invalid_input",
        ),
        (moderator, "participant:admit", {"participant_id": participant_id}, "invalid_input"),
        (
            moderator,
            "participant:admit",
            {"participant_id": participant_id, "version": 0},
            "stale_participant",
        ),
        (moderator, "participant:unban", {"participant_id": participant_id}, "not_banned"),
        (moderator, "participant:mute", {"participant_id": participant_id}, "invalid_input"),
        (moderator, "participant:mute", {"participant_id": participant_id, "audio": "yes"}, "invalid_input"),
        (moderator, "moderation:settings", {"waiting_room": "on"}, "invalid_input"),
        (moderator, "moderation:settings", {"rules": {"groups": []}}, "invalid_input"),
        (chair, "participant:remove", {"participant_id": participant_id, "reason": "x"}, "forbidden"),
        (chair, "moderation:get", {}, "forbidden"),
    ]
    for client, event, payload, code in cases:
        reply = await client.call(event, payload)
        assert not reply["ok"] and reply["error"]["code"] == code, (event, payload, reply)
    assert await moderated.core.store.audit_log(moderated.live_session) == before
    state = (await moderator.call("moderation:get"))["data"]["moderation"]
    assert len(state["waiting"]) == 1 and state["removed"] == [] and state["bans"] == []
    assert amina.sio.connected


async def test_mute_is_stored_told_and_handed_to_the_media_relay(hemicycle: Running) -> None:
    calls: list[tuple[str, int, int, Any]] = []

    class Relay:
        async def set_muted(self, session_id: int, participant_id: int, audio: bool, video: bool) -> None:
            calls.append(("set_muted", session_id, participant_id, (audio, video)))

        async def participant_gone(self, session_id: int, participant_id: int) -> None:
            calls.append(("gone", session_id, participant_id, None))

    actions = hemicycle.server.app[HUB_KEY].moderation.actions
    actions.attach_media(Relay())
    moderator = await staff(hemicycle)
    av = await hemicycle.join(await hemicycle.staff_token(Role.AV))
    registered = await hemicycle.register(display_name="Loud Speaker")
    participant_id = registered["participant"]["id"]
    speaker = await hemicycle.join(registered["token"])

    muted = await moderator.call(
        "participant:mute", {"participant_id": participant_id, "audio": True, "reason": "feedback"}
    )
    assert muted["ok"], muted
    assert muted["data"]["participant"]["muted"] == {"audio": True, "video": False}
    notice = await speaker.wait_for("moderation:muted")
    assert notice == {
        "session_id": hemicycle.live_session,
        "audio": True,
        "video": False,
        "reason": "feedback",
        "by": {"id": moderator.last("welcome")["me"]["id"], "name": "Moderator", "role": "moderator"},
    }
    assert calls == [("set_muted", hemicycle.live_session, participant_id, (True, False))]
    assert await actions.mutes(hemicycle.live_session, participant_id) == (True, False)
    assert await actions.muted_in(hemicycle.live_session) == {participant_id: (True, False)}
    assert (await av.call("participant:mute", {"participant_id": participant_id, "video": True}))["ok"]
    assert (await av.call("participant:mute", {"participant_id": participant_id, "video": True}))["error"][
        "code"
    ] == "no_change"
    refused = await speaker.call("participant:mute", {"participant_id": participant_id, "audio": False})
    assert refused["error"]["code"] == "forbidden"
    state = await moderator.wait_for(
        "moderation", lambda s: len(s["muted"]) == 1 and s["muted"][0]["muted"]["video"]
    )
    assert state["muted"][0]["id"] == participant_id
    assert (
        await moderator.call(
            "participant:mute", {"participant_id": participant_id, "audio": False, "video": False}
        )
    )["ok"]
    await speaker.wait_for("moderation:muted", lambda n: n["audio"] is False and n["video"] is False)
    assert await actions.mutes(hemicycle.live_session, participant_id) == (False, False)
    assert await actions.muted_in(hemicycle.live_session) == {}
    assert (await moderator.call("participant:remove", {"participant_id": participant_id, "reason": "x"}))[
        "ok"
    ]
    assert ("gone", hemicycle.live_session, participant_id, None) in calls


async def test_staff_who_reconnect_keep_every_right(moderated: Running) -> None:
    for role in (Role.MODERATOR, Role.CHAIR, Role.AV):
        token = await moderated.staff_token(role)
        first = await moderated.join(token)
        permissions = first.last("welcome")["permissions"]
        await first.close()
        second = await moderated.join(token)
        assert second.last("welcome")["permissions"] == permissions, role
        assert not second.received("waiting"), "staff never wait"
    moderator_token = await moderated.staff_token(Role.MODERATOR)
    amina, registered = await waiting_attendee(moderated)
    moderator = await moderated.join(moderator_token)
    state = await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    await moderator.close()
    moderator = await moderated.join(moderator_token)
    state = await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    admitted = await moderator.call(
        "participant:admit",
        {"participant_id": registered["participant"]["id"], "version": state["waiting"][0]["version"]},
    )
    assert admitted["ok"]
    await amina.wait_for("welcome")
    grant = await moderator.call("floor:grant", {"entry_id": 999})
    assert grant["error"]["code"] != "forbidden"


async def test_the_moderation_record_exports_as_json_and_csv(moderated: Running) -> None:
    moderator = await staff(moderated)
    _attendee, registered = await waiting_attendee(moderated, "=cmd|' /C calc'!A0")
    participant_id = registered["participant"]["id"]
    await moderator.wait_for("moderation", lambda s: len(s["waiting"]) == 1)
    assert (
        await moderator.call("participant:remove", {"participant_id": participant_id, "reason": "@spam link"})
    )["ok"]
    token = await moderated.staff_token(Role.MODERATOR)
    path = f"/api/sessions/{moderated.live_session}/moderation"
    status, body = await get_json(moderated, path, token)
    assert status == 200, body
    [entry] = body["actions"]
    assert entry["action"] == "participant.remove"
    assert entry["actor"]["role"] == "moderator"
    assert entry["whom"] == {"id": participant_id, "name": "=cmd|' /C calc'!A0"}
    assert entry["reason"] == "@spam link" and entry["at"].endswith("Z")
    status, text = await get_json(moderated, f"{path}?format=csv", token)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["action"] == "participant.remove"
    assert rows[0]["whom_name"].startswith("'=") and rows[0]["reason"] == "'@spam link"
    status, body = await get_json(moderated, f"{path}?format=xml", token)
    assert status == 422 and body["error"]["code"] == "invalid_input"
    for role in (Role.CHAIR, Role.AV, Role.DISPLAY):
        status, body = await get_json(moderated, path, await moderated.staff_token(role))
        assert status == 403 and body["error"]["code"] == "forbidden", role
    status, body = await get_json(moderated, path, registered["token"])
    assert status == 403
    status, body = await get_json(moderated, path, None)
    assert status == 401 and body["error"]["code"] == "token_missing"


async def test_registration_refuses_a_malformed_browser_id(moderated: Running) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{moderated.url}/api/events/{moderated.event_id}/participants",
            json={
                "display_name": "X",
                "affiliation": "Y",
                "stakeholder_group": "government",
                "country": "SN",
                "browser_id": "<script>",
            },
        ) as response,
    ):
        assert response.status == 422
        assert (await response.json())["error"]["details"]["field"] == "browser_id"


async def test_joining_an_open_session_writes_nothing(hemicycle: Running) -> None:
    """No waiting room: the gate only reads, so joins take no lock on the session's row."""
    for name in ("A", "B", "C"):
        await hemicycle.join((await hemicycle.register(display_name=name))["token"])
    async with hemicycle.core.store.engine.connect() as connection:
        version = await connection.scalar(
            select(models.Session.moderation_version).where(models.Session.id == hemicycle.live_session)
        )
        rows = await connection.scalar(select(func.count()).select_from(models.Admission))
    assert (version, rows) == (0, 0)


async def test_a_banned_member_of_staff_is_stopped_on_their_next_event(hemicycle: Running) -> None:
    admin = await staff(hemicycle, Role.ADMIN)
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    chair_id = chair.last("welcome")["me"]["id"]
    admin_principal = (await hemicycle.core.authenticate(await hemicycle.staff_token(Role.ADMIN)))[0]
    store = hemicycle.server.app[HUB_KEY].moderation.actions.store
    # Stored only: no notice, no disconnect; the next event still finds the link withdrawn.
    await store.ban(admin_principal, hemicycle.live_session, chair_id, "leaked link")
    refused = await chair.call("queue:settings", {"default_speaking_seconds": 120})
    assert refused["error"]["code"] == "token_revoked"
    await eventually(lambda: not chair.sio.connected)
    assert admin.sio.connected


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, waiting_room="public", proxy_headers=True)):
        yield running


async def test_same_address_behind_a_proxy_is_flagged(behind_proxy: Running) -> None:
    running = behind_proxy
    moderator = await staff(running)

    async def register_from(name: str, address: str) -> dict[str, Any]:
        body = {
            "display_name": name,
            "affiliation": "Somewhere",
            "stakeholder_group": "government",
            "country": "SN",
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{running.url}/api/events/{running.event_id}/participants",
                json=body,
                headers={"X-Forwarded-For": f"203.0.113.9, {address}"},
            ) as response,
        ):
            assert response.status == 201
            result: dict[str, Any] = await response.json()
            return result

    banned = await register_from("Banned", "198.51.100.7")
    principal = (await running.core.authenticate(await running.staff_token(Role.MODERATOR)))[0]
    actions = running.server.app[HUB_KEY].moderation.actions
    await actions.ban(principal, running.live_session, banned["participant"]["id"], "abuse")
    for name, address, flagged in (
        ("Elsewhere", "198.51.100.8", False),
        ("Same Place", "198.51.100.7", True),
    ):
        registered = await register_from(name, address)
        client = running.client()
        await client.connect(registered["token"], running.live_session)
        await client.wait_for("waiting")
        state = await moderator.wait_for("moderation", lambda s, n=name: n in waiting_names(s))
        flags = next(p["flags"] for p in state["waiting"] if p["display_name"] == name)
        assert ("possibly_banned" in flags) is flagged, (name, flags)
        if flagged:
            assert flags["possibly_banned"]["match"] == "address"
