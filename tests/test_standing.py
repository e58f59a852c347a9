"""The write path's standing check: the same refusals as one check per write, in one transaction for many."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from server.db.store import Standing
from server.domain.errors import HemicycleError
from server.domain.model import Principal
from server.domain.roles import Role
from server.keys import HUB_KEY
from server.standing import FANOUT_GRACE_SECONDS, Held, StandingChecks, StandingWatch

from .helpers import Running


async def test_checks_waiting_together_are_answered_in_one_transaction(hemicycle: Running) -> None:
    core = hemicycle.core
    store = core.store
    principals: list[Principal] = []
    for _ in range(3):
        principal, _ = await core.authenticate((await hemicycle.register())["token"])
        principals.append(principal)
    _, revoked, removed = principals
    await store.revoke_grant(None, revoked.grant_id)
    moderator, _ = await core.authenticate(await hemicycle.staff_token(Role.MODERATOR))
    moderation = hemicycle.server.app[HUB_KEY].moderation.actions
    await moderation.remove(moderator, hemicycle.live_session, removed.participant.id, "off topic", None)

    calls: list[int] = []
    standings = store.standings

    async def counted(asks: Collection[Standing]) -> dict[Standing, HemicycleError | None]:
        calls.append(len(asks))
        return await standings(asks)

    store.standings = counted  # type: ignore[method-assign]
    checks = StandingChecks(store)

    async def outcome(principal: Principal, session_id: int) -> str:
        try:
            await checks.check(principal, session_id)
        except HemicycleError as exc:
            return exc.code
        return "ok"

    session = hemicycle.live_session
    asked: list[tuple[Principal, int]] = [(p, session) for p in principals * 10]
    # Staff have no admission to check; the removed attendee stands in the scheduled session.
    asked += [(moderator, session), (removed, hemicycle.scheduled_session)]
    answers = await asyncio.gather(*(outcome(p, s) for p, s in asked))
    assert answers == ["ok", "token_revoked", "not_admitted"] * 10 + ["ok", "ok"]
    # The first check ran alone; everything that arrived meanwhile went in one more transaction, each
    # distinct ask once.
    assert len(calls) <= 2 and sum(calls) <= 1 + 6
    await checks.stop()


async def test_a_database_failure_reaches_every_waiting_write(hemicycle: Running) -> None:
    store = hemicycle.core.store
    principal, _ = await hemicycle.core.authenticate((await hemicycle.register())["token"])

    async def broken(asks: Any) -> Any:
        raise ConnectionError("the database went away")

    store.standings = broken  # type: ignore[method-assign]
    checks = StandingChecks(store)
    results = await asyncio.gather(
        *(checks.check(principal, hemicycle.live_session) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    await checks.stop()


async def test_the_watch_closes_what_the_fanout_did_not(hemicycle: Running) -> None:
    """Only when the event's standing version moved, or the connection is new; at once with the fan-out
    down, after a grace with it up; each connection handed over once."""
    core = hemicycle.core
    store = core.store
    session = hemicycle.live_session
    people: list[Principal] = []
    for _ in range(2):
        principal, _ = await core.authenticate((await hemicycle.register())["token"])
        people.append(principal)
    kept, revoked = people
    held = [Held("sid-kept", kept, session), Held("sid-revoked", revoked, session)]
    handed: list[tuple[str, str]] = []
    now = [100.0]
    fanout = [True]
    asked: list[int] = []
    standings = store.standings

    async def counted(asks: Collection[Standing]) -> dict[Standing, HemicycleError | None]:
        asked.append(len(asks))
        return await standings(asks)

    store.standings = counted  # type: ignore[method-assign]

    async def refused(h: Held, refusal: HemicycleError) -> None:
        handed.append((h.key, refusal.code))

    watch = StandingWatch(store, lambda: held, refused, lambda: fanout[0], clock=lambda: now[0])
    await watch.poll()
    assert asked == [2] and handed == []  # new connections are checked once
    await watch.poll()
    assert asked == [2]  # nothing moved: one read of the version, no check

    await store.revoke_grant(None, revoked.grant_id)
    await watch.poll()
    assert asked == [2, 2] and handed == []  # the fan-out works: it gets its chance first
    now[0] += FANOUT_GRACE_SECONDS
    await watch.poll()
    assert handed == [("sid-revoked", "token_revoked")]
    await watch.poll()
    assert handed == [("sid-revoked", "token_revoked")]  # handed over once

    # With the fan-out down, a removal is handed over at the first look.
    fanout[0] = False
    moderator, _ = await core.authenticate(await hemicycle.staff_token(Role.MODERATOR))
    moderation = hemicycle.server.app[HUB_KEY].moderation.actions
    await moderation.remove(moderator, session, kept.participant.id, "off topic", None)
    await watch.poll()
    assert handed[-1] == ("sid-kept", "not_admitted")
