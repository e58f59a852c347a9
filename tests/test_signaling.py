"""Socket.IO over real sockets: joining, presence fan-out, state changes, and every refusal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from server.domain.roles import Role

from .helpers import Running, eventually


async def test_attendee_joins_and_staff_sees_them(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    welcome = moderator.last("welcome")
    assert welcome["me"]["role"] == "moderator"
    assert welcome["session"]["id"] == hemicycle.live_session
    assert "session.set_state" in welcome["permissions"]
    assert [p["role"] for p in welcome["people"]] == ["moderator"]
    # Counts already broadcast do not stand in for a newcomer's welcome: it counts them too.
    await moderator.wait_for("presence", lambda p: p["total"] == 1)

    registered = await hemicycle.register(
        display_name="Li Wei 李伟", stakeholder_group="civil_society", country="CN"
    )
    attendee = await hemicycle.join(registered["token"])
    attendee_welcome = attendee.last("welcome")
    assert "people" not in attendee_welcome, "attendees see counts, never the roster"
    assert attendee_welcome["presence"]["total"] == 2

    people = await moderator.wait_for(
        "presence:people", lambda d: any(p["display_name"] == "Li Wei 李伟" for p in d["people"])
    )
    person = next(p for p in people["people"] if p["role"] == "attendee")
    assert person["stakeholder_group"] == "civil_society"
    assert person["country"] == "CN"
    assert "gender" not in person and "age_band" not in person

    summary = await attendee.wait_for("presence", lambda d: d["total"] == 2)
    assert summary["by_role"] == {"attendee": 1, "moderator": 1}
    assert summary["by_group"] == {"civil_society": 1}
    assert not attendee.received("presence:people"), "the roster goes to staff only"

    await attendee.close()
    await moderator.wait_for("presence:people", lambda d: [p["role"] for p in d["people"]] == ["moderator"])
    await moderator.wait_for("presence", lambda d: d["total"] == 1)


async def test_two_tabs_of_one_person_count_once(hemicycle: Running) -> None:
    token = (await hemicycle.register())["token"]
    first = await hemicycle.join(token)
    await hemicycle.join(token)
    summary = await first.wait_for(
        "presence", lambda d: d["by_role"].get("attendee") == 1 and d["total"] == 1
    )
    assert summary["total"] == 1
    people = (await first.call("presence:get"))["data"]
    assert "people" not in people
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    roster = (await moderator.call("presence:get"))["data"]["people"]
    attendee = next(p for p in roster if p["role"] == "attendee")
    assert attendee["connections"] == 2


async def test_burst_of_joins_is_coalesced(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    await moderator.wait_for("presence", lambda d: d["total"] == 1)
    before = len(moderator.received("presence"))
    tokens = [(await hemicycle.register(display_name=f"Delegate {i}"))["token"] for i in range(20)]
    await hemicycle.join_many(tokens)
    await moderator.wait_for("presence", lambda d: d["total"] == 21)
    await asyncio.sleep(0.5)  # let any straggling broadcast arrive before counting them
    broadcasts = len(moderator.received("presence")) - before
    assert broadcasts < 20, f"20 joins produced {broadcasts} broadcasts: they should be coalesced"
    assert moderator.last("presence")["total"] == 21


async def test_moderator_changes_state_and_everyone_sees_it(hemicycle: Running) -> None:
    session = hemicycle.scheduled_session
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR, session), session)
    attendee = await hemicycle.join((await hemicycle.register())["token"], session)

    reply = await moderator.call("session:set_state", {"state": "live"})
    assert reply["ok"] is True
    assert reply["data"]["session"]["state"] == "live"
    change = await attendee.wait_for("session:state")
    assert change["session"]["state"] == "live"
    assert change["by"]["role"] == "moderator"
    stored = await hemicycle.core.store.get_session(session)
    assert stored.state.value == "live"
    audit = await hemicycle.core.store.audit_log(session)
    assert audit[0]["action"] == "session.set_state"
    assert audit[0]["details"] == {"from": "scheduled", "to": "live"}


async def test_attendee_cannot_change_state(hemicycle: Running) -> None:
    attendee = await hemicycle.join((await hemicycle.register())["token"])
    reply = await attendee.call("session:set_state", {"state": "ended"})
    assert reply == {"ok": False, "error": {"code": "forbidden", "message": reply["error"]["message"]}}
    error = await attendee.wait_for("error")
    assert error["code"] == "forbidden" and error["event"] == "session:set_state"
    assert (await hemicycle.core.store.get_session(hemicycle.live_session)).state.value == "live"
    assert attendee.sio.connected, "a user error keeps the connection"
    assert (await attendee.call("presence:get"))["ok"] is True


async def test_display_and_av_cannot_change_state(hemicycle: Running) -> None:
    for role in (Role.DISPLAY, Role.AV, Role.CAPTIONER, Role.INTERPRETER):
        client = await hemicycle.join(await hemicycle.staff_token(role))
        reply = await client.call("session:set_state", {"state": "ended"})
        assert reply["error"]["code"] == "forbidden", role
    assert (await hemicycle.core.store.get_session(hemicycle.live_session)).state.value == "live"


async def test_invalid_transition_and_bad_payloads(hemicycle: Running) -> None:
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    assert (await chair.call("session:set_state", {"state": "live"}))["error"]["code"] == "no_change"
    assert (await chair.call("session:set_state", {"state": "scheduled"}))["error"][
        "code"
    ] == "invalid_transition"
    for bad in (
        None,
        [],
        "live",
        42,
        {"state": "paused"},
        {"state": 1},
        {"state": "ended", "extra": True},
        {"state": "x" * 10_000},
    ):
        reply = await chair.call("session:set_state", bad)
        assert reply["ok"] is False, bad
        assert reply["error"]["code"] in ("invalid_input",), (bad, reply)
    unknown = await chair.call("no:such_event", {})
    assert unknown["error"]["code"] == "unknown_event_name"
    assert chair.sio.connected
    assert (await hemicycle.core.store.get_session(hemicycle.live_session)).state.value == "live"
    audit = await hemicycle.core.store.audit_log(hemicycle.live_session)
    assert [e for e in audit if e["action"] == "session.set_state"] == []


async def test_refused_connections(hemicycle: Running) -> None:
    good = await hemicycle.staff_token(Role.MODERATOR)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    other_session_token = await hemicycle.staff_token(Role.MODERATOR, hemicycle.scheduled_session)
    cases = [
        # No token at all: token_missing, as over HTTP.
        (None, "token_missing"),
        ({"session_id": hemicycle.live_session}, "token_missing"),
        ({"token": "", "session_id": hemicycle.live_session}, "token_missing"),
        ("a token", "invalid_input"),
        ({"token": good, "session_id": "1"}, "invalid_input"),
        ({"token": good, "session_id": hemicycle.live_session, "extra": 1}, "invalid_input"),
        ({"token": "not-a-jwt", "session_id": hemicycle.live_session}, "token_invalid"),
        ({"token": forged, "session_id": hemicycle.live_session}, "token_invalid"),
        ({"token": good, "session_id": 999_999}, "unknown_session"),
        ({"token": other_session_token, "session_id": hemicycle.live_session}, "wrong_session"),
        ({"token": "x" * 5000, "session_id": hemicycle.live_session}, "invalid_input"),
    ]
    for auth, code in cases:
        refusal = await hemicycle.client().try_connect(auth)
        assert refusal["data"]["code"] == code, (auth, refusal)
        assert refusal["data"]["message"]
    snapshot = await hemicycle.core.presence(hemicycle.live_session)
    assert snapshot.people == (), "a refused connection leaves no presence behind"


async def test_expired_and_revoked_tokens_are_refused(hemicycle: Running) -> None:
    core = hemicycle.core
    person, grant = await core.store.staff_grant(hemicycle.event_id, hemicycle.live_session, Role.CHAIR)
    expired, _ = core.tokens.issue(
        grant_id=grant,
        participant_id=person.id,
        role=Role.CHAIR,
        event_id=hemicycle.event_id,
        session_id=hemicycle.live_session,
        ttl=timedelta(seconds=-1),
    )
    refusal = await hemicycle.client().try_connect({"token": expired, "session_id": hemicycle.live_session})
    assert refusal["data"]["code"] == "token_expired"

    registered = await hemicycle.register()
    await core.store.revoke_grant(
        None, registered["participant"]["id"] and await _grant_of(hemicycle, registered)
    )
    refusal = await hemicycle.client().try_connect(
        {"token": registered["token"], "session_id": hemicycle.live_session}
    )
    assert refusal["data"]["code"] == "token_revoked"


async def _grant_of(hemicycle: Running, registered: dict) -> int:  # type: ignore[type-arg]
    principal, _ = await hemicycle.core.authenticate(registered["token"])
    return principal.grant_id


async def test_flooding_is_limited_then_disconnected(hemicycle: Running) -> None:
    hemicycle.core.settings = hemicycle.core.settings.__class__(
        **{**hemicycle.core.settings.__dict__, "events_per_second": 5}
    )
    client = await hemicycle.join((await hemicycle.register())["token"])
    for _ in range(400):
        if not client.sio.connected:
            break
        await client.sio.emit("presence:get", {})
    await eventually(lambda: any(e["code"] == "rate_limited" for e in client.received("error")))
    await eventually(lambda: not client.sio.connected, timeout=5)
    # The server is still serving others.
    other = await hemicycle.join((await hemicycle.register())["token"])
    assert (await other.call("presence:get"))["ok"] is True


async def test_oversized_message_closes_only_that_connection(hemicycle: Running) -> None:
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    bystander = await hemicycle.join((await hemicycle.register())["token"])
    await chair.sio.emit("session:set_state", {"state": "ended", "padding": "x" * 100_000})
    await eventually(lambda: not chair.sio.connected)
    assert (await hemicycle.core.store.get_session(hemicycle.live_session)).state.value == "live"
    assert (await bystander.call("presence:get"))["ok"] is True
    await bystander.wait_for("presence", lambda d: d["by_role"].get("chair") is None)


async def test_aggregated_summary_matches_the_roster(hemicycle: Running) -> None:
    """Attendees get counts aggregated by the database; staff get the roster: both must agree."""
    await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    await hemicycle.join(await hemicycle.staff_token(Role.DISPLAY))
    for name, group in (("A", "government"), ("B", "government"), ("C", "civil_society")):
        token = (await hemicycle.register(display_name=name, stakeholder_group=group))["token"]
        await hemicycle.join(token)
        await hemicycle.join(token)  # a second tab counts once
    summary = await hemicycle.core.presence_summary(hemicycle.live_session)
    assert summary == (await hemicycle.core.presence(hemicycle.live_session)).summary()
    assert summary["total"] == 5 and summary["by_group"] == {"civil_society": 1, "government": 2}
