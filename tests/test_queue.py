"""The speakers' queue over real sockets: hands, in-room requests, order, the floor, the timer, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Client, Running, place_in

HAND = {"type": "statement", "language": "en"}


async def attendee(
    running: Running, name: str = "Amina Diallo", session_id: int | None = None, **fields: Any
) -> Client:
    registered = await running.register(display_name=name, **fields)
    return await running.join(registered["token"], session_id)


async def moderator_of(running: Running, session_id: int | None = None) -> Client:
    return await running.join(await running.staff_token(Role.MODERATOR, session_id), session_id)


async def count_interventions(running: Running) -> int:
    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(models.Intervention)) or 0)


def names(queue: dict[str, Any]) -> list[str]:
    return [e["display_name"] for e in queue["queue"]]


async def test_raise_see_place_lower(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    assert moderator.last("welcome")["queue"]["queue"] == []
    amina = await attendee(hemicycle, "Amina Diallo")
    li = await attendee(hemicycle, "Li Wei", country="CN", stakeholder_group="civil_society")

    first = await amina.call("hand:raise", HAND)
    assert first["ok"] and first["data"]["place"] == 1 and first["data"]["entry"]["state"] == "queued"
    second = await li.call("hand:raise", {"type": "question", "language": "fr"})
    assert second["data"]["place"] == 2

    again = await amina.call("hand:raise", {"type": "question", "language": "fr"})
    assert again["data"]["entry"]["id"] == first["data"]["entry"]["id"], "raising twice changes nothing"
    assert again["data"]["entry"]["type"] == "statement"
    assert await count_interventions(hemicycle) == 2

    queue = await moderator.wait_for("queue", lambda q: len(q["queue"]) == 2)
    assert names(queue) == ["Amina Diallo", "Li Wei"]
    assert queue["queue"][1]["language"] == "fr" and queue["queue"][1]["stakeholder_group"] == "civil_society"
    floor = await li.wait_for("floor", lambda f: f["length"] == 2)
    assert [e["display_name"] for e in floor["next"]] == ["Amina Diallo", "Li Wei"]
    li_entry = second["data"]["entry"]["id"]
    assert "order" not in floor, "the floor everyone gets stays small; the order goes to those in line"
    line = await li.wait_place(li_entry, 2)
    assert line["order"] == [first["data"]["entry"]["id"], li_entry] and line["length"] == 2

    lowered = await amina.call("hand:lower")
    assert lowered["ok"] and lowered["data"]["entry"] is None
    assert lowered["data"]["last"]["state"] == "withdrawn", "the acknowledgement says how the hand went down"
    await li.wait_place(li_entry, 1)
    gone = await amina.wait_for("queue:mine", lambda m: m["entry"] is None)
    assert gone["last"]["state"] == "withdrawn"
    # Li's own view came once, for Li's own raise; the move up travelled in the line everyone in it gets.
    assert [m["place"] for m in li.received("queue:mine")] == [2]
    # Amina, out of the line, gets no more of it: every line she received still had her in it.
    amina_entry = first["data"]["entry"]["id"]
    assert all(amina_entry in line["order"] for line in amina.received("queue:line"))
    assert (await amina.call("hand:lower"))["error"]["code"] == "not_queued"


async def test_policies_in_room_requests_and_moves(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    a = await attendee(hemicycle, "A")
    b = await attendee(hemicycle, "B")
    c = await attendee(hemicycle, "C")
    await a.call("hand:raise", HAND)
    await b.call("hand:raise", HAND)
    await c.call("hand:raise", {"type": "point_of_order", "language": "en"})
    added = await moderator.call(
        "queue:add_in_room",
        {
            "display_name": "H.E. Ms. Rosa Álvarez",
            "affiliation": "Permanent Mission of Chile",
            "stakeholder_group": "government",
            "country": "CL",
            "type": "right_of_reply",
            "language": "es",
        },
    )
    assert added["ok"], added
    queue = await moderator.wait_for("queue", lambda q: len(q["queue"]) == 4)
    assert names(queue) == ["C", "H.E. Ms. Rosa Álvarez", "A", "B"]
    assert queue["queue"][1]["in_room"] is True and queue["queue"][1]["participant_id"] is None

    b_id = queue["queue"][3]["id"]
    assert (await moderator.call("queue:move", {"entry_id": b_id, "to": "top"}))["ok"]
    queue = await moderator.wait_for("queue", lambda q: names(q)[0] == "B")
    assert names(queue) == ["B", "C", "H.E. Ms. Rosa Álvarez", "A"]
    await b.wait_place(b_id, 1)
    await a.wait_place(queue["queue"][3]["id"], 4)

    removed = await moderator.call(
        "queue:remove", {"entry_id": queue["queue"][1]["id"], "reason": "off topic"}
    )
    assert removed["ok"]
    gone = await c.wait_for("queue:mine", lambda m: m["entry"] is None)
    assert gone["last"] == {
        "id": queue["queue"][1]["id"],
        "state": "removed",
        "removed_reason": "off topic",
        "end_reason": None,
    }
    assert (await moderator.call("queue:lower_all", {"reason": "time is up"}))["data"]["lowered"] == 3
    await moderator.wait_for("queue", lambda q: q["queue"] == [])
    audit = [e["action"] for e in await hemicycle.core.store.audit_log(hemicycle.live_session)]
    for action in ("queue.add_in_room", "queue.move", "queue.remove", "queue.lower_all"):
        assert action in audit


async def test_floor_grant_timer_revoke_and_record(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    display = await hemicycle.join(await hemicycle.staff_token(Role.DISPLAY))
    speaker = await attendee(hemicycle, "Kofi Mensah", stakeholder_group="academic_technical", country="GH")
    nxt = await attendee(hemicycle, "Next One")
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]
    nxt_entry = (await nxt.call("hand:raise", HAND))["data"]["entry"]["id"]

    granted = await moderator.call("floor:grant", {"entry_id": entry["id"], "limit_seconds": 120})
    assert granted["ok"], granted
    mine = await speaker.wait_for("queue:mine", lambda m: m["entry"] and m["entry"]["state"] == "speaking")
    assert mine["timer"]["allowed_seconds"] == 120
    floor = await display.wait_for("floor", lambda f: f["speaking"] is not None)
    assert floor["speaking"]["display_name"] == "Kofi Mensah"
    assert floor["speaking"]["stakeholder_group"] == "academic_technical"
    assert [e["display_name"] for e in floor["next"]] == ["Next One"]
    deadline = datetime.fromisoformat(floor["timer"]["deadline"].replace("Z", "+00:00"))
    granted_at = datetime.fromisoformat(floor["timer"]["granted_at"].replace("Z", "+00:00"))
    assert deadline - granted_at == timedelta(seconds=120)
    await nxt.wait_place(nxt_entry, 1)
    assert display.received("queue:line") == [], "the room display is in no line: it needs only the floor"

    more = await moderator.call("floor:time", {"entry_id": entry["id"], "add_seconds": 60})
    assert more["ok"] and more["data"]["extra_seconds"] == 60
    await display.wait_for("floor", lambda f: f["timer"] and f["timer"]["allowed_seconds"] == 180)

    revoked = await moderator.call("floor:end", {"entry_id": entry["id"], "revoke": True})
    assert revoked["data"]["end_reason"] == "revoked"
    await display.wait_for("floor", lambda f: f["speaking"] is None)
    queue = await moderator.wait_for("queue", lambda q: q["speaking"] is None and q["record"])
    record = queue["record"][0]
    assert record["display_name"] == "Kofi Mensah" and record["end_reason"] == "revoked"
    assert record["granted_at"] and record["ended_at"] and record["requested_at"]
    assert queue["balance"]["stakeholder_group"]["interventions"] == {"academic_technical": 1}
    assert queue["balance"]["region"]["interventions"] == {"africa": 1}
    assert queue["suggestion"]["display_name"] == "Next One"


async def test_grant_next_replaces_and_speaker_can_finish(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    one = await attendee(hemicycle, "One")
    two = await attendee(hemicycle, "Two")
    e1 = (await one.call("hand:raise", HAND))["data"]["entry"]["id"]
    e2 = (await two.call("hand:raise", HAND))["data"]["entry"]["id"]
    await moderator.call("floor:grant", {"entry_id": e1})
    assert (await moderator.call("floor:grant", {"entry_id": e2}))["ok"]
    queue = await moderator.wait_for("queue", lambda q: q["speaking"] and q["speaking"]["id"] == e2)
    assert queue["record"][0]["end_reason"] == "replaced"
    assert (await one.call("floor:end", {"entry_id": e2}))["error"]["code"] == "forbidden"
    finished = await two.call("floor:end", {"entry_id": e2, "revoke": True})
    assert finished["ok"] and finished["data"]["end_reason"] == "finished", "a speaker only finishes"


async def test_refusals_change_nothing(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    amina = await attendee(hemicycle)
    other = await attendee(hemicycle, "Other")
    entry = (await amina.call("hand:raise", HAND))["data"]["entry"]["id"]
    before = await count_interventions(hemicycle)
    version = (await moderator.call("queue:get"))["data"]["queue"]["version"]
    display = await hemicycle.join(await hemicycle.staff_token(Role.DISPLAY))
    av = await hemicycle.join(await hemicycle.staff_token(Role.AV))

    cases = [
        (other, "floor:grant", {"entry_id": entry}, "forbidden"),
        (other, "queue:move", {"entry_id": entry, "to": "top"}, "forbidden"),
        (other, "queue:remove", {"entry_id": entry, "reason": "x"}, "forbidden"),
        (other, "queue:lower_all", {}, "forbidden"),
        (
            other,
            "queue:add_in_room",
            {"display_name": "X", "stakeholder_group": "government", "language": "en"},
            "forbidden",
        ),
        (other, "queue:settings", {"default_speaking_seconds": 60}, "forbidden"),
        (other, "floor:time", {"entry_id": entry, "add_seconds": 30}, "forbidden"),
        (display, "hand:raise", HAND, "forbidden"),
        (av, "floor:grant", {"entry_id": entry}, "forbidden"),
        (moderator, "hand:raise", HAND, "forbidden"),
        (moderator, "floor:grant", {"entry_id": 999_999}, "stale_entry"),
        (moderator, "floor:end", {"entry_id": entry}, "stale_entry"),
        (moderator, "queue:move", {"entry_id": 999_999, "to": "up"}, "stale_entry"),
        (moderator, "queue:move", {"entry_id": entry, "to": "left"}, "invalid_input"),
        (moderator, "queue:remove", {"entry_id": entry, "reason": ""}, "invalid_input"),
        (moderator, "floor:grant", {"entry_id": entry, "limit_seconds": 3}, "invalid_input"),
        (moderator, "floor:grant", {"entry_id": "1"}, "invalid_input"),
        (
            moderator,
            "queue:add_in_room",
            {"display_name": "", "stakeholder_group": "government", "language": "en"},
            "invalid_input",
        ),
        (
            moderator,
            "queue:add_in_room",
            {"display_name": "X", "stakeholder_group": "press", "language": "en"},
            "invalid_input",
        ),
        (  # a name that shows as nobody
            moderator,
            "queue:add_in_room",
            {"display_name": "\u3164", "stakeholder_group": "government", "language": "en"},
            "invalid_input",
        ),
        (  # a zero-width space that makes one name look like another
            moderator,
            "queue:add_in_room",
            {"display_name": "Rosa\u200b Álvarez", "stakeholder_group": "government", "language": "en"},
            "invalid_input",
        ),
        (
            moderator,
            "queue:add_in_room",
            {"display_name": "X", "stakeholder_group": "government", "language": "en", "gender": "woman"},
            "invalid_input",
        ),
        (other, "hand:raise", {"type": "speech", "language": "en"}, "invalid_input"),
        (other, "hand:raise", {"type": "statement", "language": "de"}, "invalid_input"),
        (other, "hand:raise", {"type": "statement"}, "invalid_input"),
        (other, "hand:raise", ["statement", "en"], "invalid_input"),
        (other, "hand:lower", {}, "not_queued"),
    ]
    for client, event, payload, code in cases:
        reply = await client.call(event, payload)
        assert reply["ok"] is False and reply["error"]["code"] == code, (event, payload, reply)
    assert await count_interventions(hemicycle) == before
    assert (await moderator.call("queue:get"))["data"]["queue"]["version"] == version
    assert all(c.sio.connected for c in (moderator, amina, other, display, av))

    # Granting someone who has already left is refused as stale.
    await amina.call("hand:lower")
    assert (await moderator.call("floor:grant", {"entry_id": entry}))["error"]["code"] == "stale_entry"


async def test_session_state_gates_the_floor(hemicycle: Running) -> None:
    session = hemicycle.scheduled_session
    moderator = await moderator_of(hemicycle, session)
    early = await attendee(hemicycle, "Early bird", session_id=session)
    entry = (await early.call("hand:raise", HAND))["data"]["entry"]["id"]  # hands may go up before it starts
    assert (await moderator.call("floor:grant", {"entry_id": entry}))["error"]["code"] == "session_not_live"
    await moderator.call("session:set_state", {"state": "ended"})
    assert (await early.call("hand:lower"))["error"]["code"] == "session_ended"


async def test_flooding_hands_is_limited_per_participant(hemicycle: Running) -> None:
    registered = await hemicycle.register(display_name="Toggler")
    tabs = [await hemicycle.join(registered["token"]) for _ in range(2)]
    codes = []
    for index in range(30):
        reply = await tabs[index % 2].call("hand:raise" if index % 4 < 2 else "hand:lower", HAND)
        codes.append(reply["ok"] or reply["error"]["code"])
    assert "rate_limited" in codes, codes
    assert codes.count(True) + codes.count("not_queued") <= 10
    other = await attendee(hemicycle, "Patient")
    assert (await other.call("hand:raise", HAND))["ok"], "another participant is not limited"


async def test_two_hundred_concurrent_hands(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    tokens = [(await hemicycle.register(display_name=f"Delegate {i:03d}"))["token"] for i in range(200)]
    clients = await hemicycle.join_many(tokens)
    replies = await asyncio.gather(*(c.call("hand:raise", HAND, timeout=30) for c in clients))
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    assert await count_interventions(hemicycle) == 200
    places = sorted(r["data"]["place"] for r in replies)
    assert places == list(range(1, 201)), "each hand got its own place"

    queue = await moderator.wait_for("queue", lambda q: len(q["queue"]) == 200, timeout=20)
    order = names(queue)
    assert len(set(order)) == 200
    # Every attendee's place, read from the newest line as the page does, agrees with the moderator's order.
    for client, reply in zip(clients, replies, strict=True):
        me = client.last("welcome")["me"]["display_name"]
        entry_id = reply["data"]["entry"]["id"]
        line = await client.wait_for("queue:line", lambda f: f["version"] >= queue["version"], timeout=20)
        assert order[place_in(line, entry_id) - 1] == me
    floors = {c.last("floor")["length"] for c in clients}
    assert floors == {200}


@pytest.fixture
def clock() -> Any:
    class Clock:
        offset = timedelta(0)

        def __call__(self) -> datetime:
            return datetime.now(UTC) + self.offset

    return Clock()


@pytest.fixture
async def timed(tmp_path: Path, clock: Any) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, floor_grace_seconds=2), clock=clock):
        yield running


async def test_automatic_end_at_limit_plus_grace(timed: Running, clock: Any) -> None:
    moderator = await moderator_of(timed)
    speaker = await attendee(timed, "Overrunner")
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]["id"]
    assert (await moderator.call("queue:settings", {"auto_end": True, "auto_end_grace_seconds": 10}))["ok"]
    await moderator.call("floor:grant", {"entry_id": entry, "limit_seconds": 60})
    clock.offset = timedelta(seconds=65)  # over, but within the grace
    await asyncio.sleep(1.5)
    assert (await moderator.call("queue:get"))["data"]["queue"]["speaking"]["id"] == entry
    clock.offset = timedelta(seconds=75)
    queue = await moderator.wait_for("queue", lambda q: q["speaking"] is None and q["record"], timeout=10)
    assert queue["record"][0]["end_reason"] == "time_up"
    assert queue["record"][0]["overrun_seconds"] >= 15


async def test_speaker_keeps_the_floor_across_a_short_drop_not_a_long_one(timed: Running) -> None:
    moderator = await moderator_of(timed)
    registered = await timed.register(display_name="Flaky Link")
    speaker = await timed.join(registered["token"])
    entry = (await speaker.call("hand:raise", HAND))["data"]["entry"]["id"]
    queued = await attendee(timed, "Waiting")
    await queued.call("hand:raise", HAND)
    await moderator.call("floor:grant", {"entry_id": entry})

    await speaker.close()
    back = await timed.join(registered["token"])  # comes back at once
    assert back.last("welcome")["mine"]["entry"]["state"] == "speaking"
    await asyncio.sleep(3)
    assert (await moderator.call("queue:get"))["data"]["queue"]["speaking"]["id"] == entry

    # The waiting one drops and returns: still in line.
    await queued.close()
    again = await timed.join(queued.last("welcome") and (await _token_of(timed, "Waiting")))
    assert again.last("welcome")["mine"]["place"] == 1

    await back.close()  # gone for good
    queue = await moderator.wait_for("queue", lambda q: q["speaking"] is None and q["record"], timeout=15)
    assert queue["record"][0]["end_reason"] == "disconnected"


async def _token_of(running: Running, name: str) -> str:
    for client in running.clients:
        welcome = client.last("welcome")
        if welcome and welcome["me"]["display_name"] == name:
            return str(client.sio.connection_auth["token"])
    raise AssertionError(name)


async def test_queue_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    async for first in run_app(settings):
        moderator = await moderator_of(first)
        clients = [await attendee(first, f"Speaker {i}") for i in range(3)]
        entries = [(await c.call("hand:raise", HAND))["data"]["entry"]["id"] for c in clients]
        await moderator.call("floor:grant", {"entry_id": entries[0], "limit_seconds": 300})
        before = (await moderator.call("queue:get"))["data"]["queue"]
        for client in clients:
            await client.close()

    async for second in run_app(settings):
        moderator = await moderator_of(second)
        after = moderator.last("welcome")["queue"]
        assert after["speaking"]["id"] == entries[0]
        assert after["timer"]["deadline"] == before["timer"]["deadline"]
        assert 0 < after["timer"]["remaining_seconds"] <= 300
        assert [e["id"] for e in after["queue"]] == entries[1:]
        assert after["version"] == before["version"]


async def test_session_targets_steer_the_suggestion(hemicycle: Running) -> None:
    moderator = await moderator_of(hemicycle)
    gov = await attendee(hemicycle, "Gov Delegate", stakeholder_group="government")
    ngo = await attendee(hemicycle, "NGO Delegate", stakeholder_group="civil_society")
    await gov.call("hand:raise", HAND)
    await ngo.call("hand:raise", HAND)
    queue = await moderator.wait_for("queue", lambda q: len(q["queue"]) == 2)
    assert queue["suggestion"]["display_name"] == "Gov Delegate", "nothing spoken yet: FIFO"
    reply = await moderator.call("queue:settings", {"targets": {"stakeholder_group": {"civil_society": 1}}})
    assert reply["ok"], reply
    assert reply["data"]["settings"]["targets"]["stakeholder_group"] == {"civil_society": 1.0}
    queue = await moderator.wait_for("queue", lambda q: q["suggestion"]["display_name"] == "NGO Delegate")
    assert {"dimension": "stakeholder_group", "value": "civil_society"} in queue["suggestion"]["improves"]
    for bad in (
        {"stakeholder_group": {"civil_society": 2}},
        {"shoe_size": {"42": 1}},
        {"gender": {"woman": 0.7, "man": 0.7}},
        {"region": {"atlantis": 0.5}},
        {},
    ):
        refused = await moderator.call("queue:settings", {"targets": bad})
        assert refused["error"]["code"] == "invalid_input", bad
    state = await hemicycle.core.notifier.floor.state(hemicycle.live_session)  # type: ignore[attr-defined]
    assert state.targets == {**state.targets, "stakeholder_group": {"civil_society": 1.0}}
