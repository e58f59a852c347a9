"""A crowd joining at once: the reads and writes of many joins answered together, each still its own answer
(server/db/gathered.py GatheredCalls in Store.principal and Store.add_presence), on SQLite and PostgreSQL;
the welcome's common parts built once per version (signaling/welcome.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.domain.errors import Conflict, Unauthenticated
from server.keys import HUB_KEY
from signaling.hub import Hub

from .conftest import make_settings, run_app
from .helpers import Running

HAND = {"type": "statement", "language": "en"}


async def test_tokens_resolved_together_each_get_their_own_answer(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        tokens = [(await running.register(display_name=f"Delegate {i}"))["token"] for i in range(12)]
        claims = [core.tokens.verify(token) for token in tokens]
        await core.store.revoke_grant(None, claims[3].grant_id)
        asks = [(c.grant_id, c.participant_id) for c in claims]
        asks.append((claims[0].grant_id, claims[1].participant_id))  # a grant and someone else's id
        asks.append((10**9, claims[2].participant_id))  # no such grant
        answers = await asyncio.gather(*(core.store.principal(g, p) for g, p in asks), return_exceptions=True)
        for index, (answer, claim) in enumerate(zip(answers, claims, strict=False)):
            if index == 3:
                assert isinstance(answer, Unauthenticated) and answer.code == "token_revoked"
            else:
                assert not isinstance(answer, BaseException), answer
                assert answer.participant.id == claim.participant_id
                assert answer.participant.display_name == f"Delegate {index}"
                assert answer.grant_id == claim.grant_id
        assert [getattr(a, "code", None) for a in answers[-2:]] == ["token_unknown", "token_unknown"]


async def test_connections_recorded_together_refuse_a_duplicate(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        tokens = [(await running.register())["token"] for _ in range(5)]
        people = [(await core.authenticate(token))[0] for token in tokens]
        session = running.live_session
        await core.store.add_presence(core.instance_id, "sid-taken", people[0], session)
        joins = [(f"sid-{i}", people[i % 5]) for i in range(20)] + [("sid-taken", people[1])]
        answers = await asyncio.gather(
            *(core.store.add_presence(core.instance_id, sid, person, session) for sid, person in joins),
            return_exceptions=True,
        )
        assert answers[:20] == [None] * 20
        assert isinstance(answers[20], Conflict) and answers[20].code == "already_joined"
        snapshot = await core.presence(session)
        assert sum(p.connections for p in snapshot.people) == 21
        assert {p.participant.id for p in snapshot.people} == {p.participant.id for p in people}


async def test_connections_leaving_together_are_each_forgotten(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        people = [(await core.authenticate((await running.register())["token"]))[0] for _ in range(4)]
        live, scheduled = running.live_session, running.scheduled_session
        for i in range(12):
            session = live if i < 8 else scheduled
            await core.store.add_presence(core.instance_id, f"sid-{i}", people[i % 4], session)
        leaving = [f"sid-{i}" for i in range(0, 12, 2)] + ["sid-never"]
        answers = await asyncio.gather(*(core.store.remove_presence(core.instance_id, s) for s in leaving))
        assert answers == [live, live, live, live, scheduled, scheduled, None]
        assert sum(p.connections for p in (await core.presence(live)).people) == 4
        assert sum(p.connections for p in (await core.presence(scheduled)).people) == 2
        assert await core.store.remove_presence(core.instance_id, "sid-0") is None, "already forgotten"


async def test_a_crowd_at_one_version_shares_one_welcome(hemicycle: Running) -> None:
    """The welcome's common parts are built once while the versions stand (signaling/welcome.py), each joiner
    still gets their own parts, and a version that moves, or time that passes, makes a new build."""
    hub = hemicycle.server.app[HUB_KEY]
    assert isinstance(hub, Hub)
    parts = hub.connections.welcomes
    now = [100.0]
    parts.clock = lambda: now[0]  # time stands still: only the versions decide
    names = [f"Delegate {i}" for i in range(16)]
    tokens = [(await hemicycle.register(display_name=name))["token"] for name in names]
    crowd = await hemicycle.join_many(tokens, at_once=16)
    assert parts.builds == 1
    welcomes = [client.received("welcome")[0] for client in crowd]
    assert [w["me"]["display_name"] for w in welcomes] == names
    for key in ("session", "event", "floor", "questions", "captions"):
        assert all(w[key] == welcomes[0][key] for w in welcomes), key
    assert welcomes[0]["floor"]["length"] == 0

    # The queue moves: the next joiner is welcomed with the new line, from a new build; one's own request
    # is still one's own.
    raised = await crowd[0].call("hand:raise", HAND)
    assert raised["ok"], raised
    late = await hemicycle.join((await hemicycle.register(display_name="Late Delegate"))["token"])
    welcome = late.received("welcome")[0]
    assert welcome["floor"]["length"] == 1 and welcome["floor"]["version"] > welcomes[0]["floor"]["version"]
    assert welcome["mine"]["entry"] is None
    assert parts.builds == 2
    again = await hemicycle.join(tokens[0])
    assert again.received("welcome")[0]["mine"]["place"] == 1, "the raiser sees their own request"
    assert parts.builds == 2

    # Past the shared countdown's age, the same versions are built again (a fresh server clock).
    now[0] += 1.0
    await hemicycle.join((await hemicycle.register(display_name="Later Delegate"))["token"])
    assert parts.builds == 3
