"""How question updates reach everyone: only what changed, paced per session, in bounded bytes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from server.db.question_store import Changes, QuestionStore
from server.domain.errors import HemicycleError
from server.domain.roles import Role
from signaling.hub import QUESTIONS_SPACING_SECONDS

from .helpers import Client, Running


def wire_bytes(payload: Any) -> int:
    """About what one event costs on the wire: its compact JSON."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


async def test_a_vote_sends_its_count_not_the_list(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    asker = await hemicycle.join((await hemicycle.register(display_name="Asker"))["token"])
    voter = await hemicycle.join((await hemicycle.register(display_name="Voter"))["token"])
    passive = await hemicycle.join((await hemicycle.register(display_name="Passive"))["token"])

    first = (await asker.call("question:post", {"text": "First question"}))["data"]["question"]["id"]
    second = (await asker.call("question:post", {"text": "Second question"}))["data"]["question"]["id"]
    await moderator.wait_moderation(lambda v: len(v["questions"]) == 2)
    assert not passive.received("questions:changed"), "pending questions stay unseen, even their ids"

    for qid in (first, second):
        assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    approved = await passive.wait_questions(lambda v: len(v["questions"]) == 2)
    assert [q["text"] for q in approved["questions"]] == ["First question", "Second question"]

    before = len(passive.received("questions:changed"))
    assert (await voter.call("question:vote", {"question_id": second}))["ok"]
    await passive.wait_questions(lambda v: v["questions"][1]["votes"] == 1)
    deltas = passive.received("questions:changed")
    assert len(deltas) == before + 1
    staff = await moderator.wait_moderation(lambda v: v["questions"][1]["votes"] == 1)
    assert moderator.last("questions:staff_changed")["questions"] == [
        {"id": second, "votes": 1, "late_votes": 0}
    ]
    assert staff["counts"]["approved"] == 2
    delta = deltas[-1]
    assert delta["questions"] == [{"id": second, "votes": 1}] and delta["removed"] == []
    # The sender names its previous update, for a client to see one it missed.
    assert delta["previous"] == deltas[-2]["version"] and delta["origin"] == deltas[-2]["origin"]
    assert delta["version"] > delta["previous"]

    dismissed = await moderator.call(
        "question:moderate", {"question_id": first, "action": "dismiss", "reason": "Answered before"}
    )
    assert dismissed["ok"]
    after = await passive.wait_questions(lambda v: [q["id"] for q in v["questions"]] == [second])
    assert passive.last("questions:changed")["removed"] == [first]
    # What the deltas built is what a fresh read gives.
    fresh = (await passive.call("questions:get", {}))["data"]["questions"]
    assert fresh["questions"] == after["questions"] and fresh["version"] == after["version"]


async def test_a_crowd_voting_costs_a_passive_attendee_bounded_bytes(hemicycle: Running) -> None:
    """Ten people voting and unvoting as fast as they are allowed on 60 questions: a passive attendee gets a
    few small updates a second. When each vote resent the whole list it was about 138 KiB/s."""
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    assert (await moderator.call("questions:settings", {"premoderated": False}))["ok"]
    tokens = [(await hemicycle.register(display_name=f"Person {i}"))["token"] for i in range(16)]
    people = await hemicycle.join_many(tokens)
    askers, voters = people[:6], people[6:]  # the voters keep their whole burst of ten for the votes
    posted = await asyncio.gather(
        *(
            # Sixty posts queue on the session's lock: a loaded machine may take more than the default 5 s.
            a.call("question:post", {"text": f"Question {n} of asker {i}"}, timeout=30)
            for i, a in enumerate(askers)
            for n in range(10)
        )
    )
    assert all(p["ok"] for p in posted)
    ids = [p["data"]["question"]["id"] for p in posted]
    # The posts' own update gone out first: what the passive attendee receives from here on is the votes'.
    await moderator.wait_moderation(lambda v: len(v["questions"]) == 60)
    passive = await hemicycle.join((await hemicycle.register(display_name="Passive"))["token"])
    assert len(passive.last("welcome")["questions"]["questions"]) == 60
    start, staff_start = len(passive.events), len(moderator.events)

    loop = asyncio.get_running_loop()
    began = loop.time()
    end = began + 2.0
    # On a loaded machine fewer votes get through the session's lock in two seconds: the voting goes on
    # (up to a deadline) until enough were accepted for the bound to mean something.
    enough, deadline = 20, began + 30.0
    accepted = 0

    async def vote(index: int, client: Client) -> None:
        nonlocal accepted
        voted: set[int] = set()
        step = 0
        while (loop.time() < end or accepted < enough) and loop.time() < deadline:
            qid = ids[(index * 7 + step) % len(ids)]
            step += 1
            event = "question:unvote" if qid in voted else "question:vote"
            reply = await client.call(event, {"question_id": qid}, timeout=30)
            if reply["ok"]:
                voted ^= {qid}
                accepted += 1
            else:
                assert reply["error"]["code"] == "rate_limited", reply
                await asyncio.sleep(0.05)  # pacing the load, not waiting for a condition

    await asyncio.gather(*(vote(i, c) for i, c in enumerate(voters)))
    # The last changes go out within one spacing of the last vote.
    fresh = (await moderator.call("questions:get", {}))["data"]
    await passive.wait_questions(lambda v: v["questions"] == fresh["questions"]["questions"], timeout=5)
    await moderator.wait_moderation(lambda v: v == fresh["moderation"], timeout=5)
    elapsed = loop.time() - began

    received = passive.events[start:]
    deltas = [data for name, data in received if name == "questions:changed"]
    total = sum(wire_bytes(data) for _, data in received)
    # Enough load for the bound to mean something (the votes queue on the session's lock: how many get
    # through in two seconds depends on the machine), and several votes in each update.
    assert accepted >= enough and len(deltas) < accepted / 2, (accepted, len(deltas))
    assert {name for name, _ in received} <= {"questions:changed", "presence"}, "nothing else, no whole list"
    # Paced: no more than one update per spacing, per session.
    assert len(deltas) <= elapsed / QUESTIONS_SPACING_SECONDS + 2, (len(deltas), elapsed)
    for delta in deltas:
        assert len(delta["questions"]) <= 60 and all(set(q) == {"id", "votes"} for q in delta["questions"]), (
            delta
        )
    # The bound of docs/protocol.md for 60 questions: 4 × (150 + 60 × 25) bytes a second.
    assert total / elapsed < 6_600, (total, elapsed, len(deltas))

    # Staff (the chair's tablet, the booths) get votes the same way, with the counts.
    staff = [data for name, data in moderator.events[staff_start:] if name == "questions:staff_changed"]
    assert len(staff) <= elapsed / QUESTIONS_SPACING_SECONDS + 2, (len(staff), elapsed)
    assert all(set(q) == {"id", "votes", "late_votes"} for delta in staff for q in delta["questions"])
    assert not [name for name, _ in moderator.events[staff_start:] if name == "questions"], "no whole list"


async def test_a_broadcast_takes_the_writes_up_to_the_version_it_read(hemicycle: Running) -> None:
    """A write committed after the broadcaster's read waits for the next broadcast; a refused one is never
    sent."""
    store = QuestionStore(hemicycle.core.store)  # its own record of writes: the hub's broadcasts leave it be
    session = hemicycle.live_session
    asker, _ = await hemicycle.core.authenticate((await hemicycle.register(display_name="Asker"))["token"])
    other, _ = await hemicycle.core.authenticate((await hemicycle.register(display_name="Other"))["token"])
    first = await store.post(asker, session, "One", "", False)
    read = await store.state(session)
    second = await store.post(asker, session, "Two", "", False)
    with pytest.raises(HemicycleError):
        await store.withdraw(other, session, first.id)  # not theirs: rolled back

    assert store.take_changes(session, read.version) == Changes(content={first.id})
    assert store.take_changes(session, read.version) == Changes(), "taken once"
    later = await store.state(session)
    assert store.take_changes(session, later.version) == Changes(content={second.id})
