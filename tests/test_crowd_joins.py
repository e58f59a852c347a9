"""A crowd joining at once: the reads and writes of many joins answered together, each still its own answer
(server/db/gathered.py GatheredCalls in Store.principal and Store.add_presence), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.domain.errors import Conflict, Unauthenticated

from .conftest import make_settings, run_app


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
